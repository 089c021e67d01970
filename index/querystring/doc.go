// Package querystring translates the search language that supervisors and
// legal teams type into a bleve query.
//
// A search that silently misses a message is the failure a compliance user
// fears most, so every construct below has one documented meaning, and a
// query that would mean something other than it seems is refused with an
// *Error saying where and why (errors.Is(err, ErrSyntax) holds for all of
// them). Its Pos is a byte offset; Error() counts characters, so for the
// query 奥斯卡 foo:bar it says
//
//	query: at character 5: unknown field "foo": fields are date, from, subject; put text containing ':' in quotes
//
// # Words and phrases
//
// A bare word searches the default text field and requires all the words
// the analyser finds in it:
//
//	refund              documents containing "refund"
//	e-mail              documents containing both "e" and "mail"
//	"wire the funds"    the words in this order, next to each other
//	"say \"hi\""        inside quotes a backslash makes the next character literal
//	foo\(1\)            so it does in a word: \( \) \" \: \* \? \\, or \ before a space
//
// Case does not matter in text: the index lower-cases it.
//
// Chinese and Japanese: the index (bleve's cjk analyser) splits Han, Hiragana
// and Katakana text into overlapping pairs of characters (奥斯卡 is indexed
// as 奥斯 and 斯卡). A word containing CJK characters (Korean included) is
// therefore always searched as a phrase, which requires
// the pairs to be adjacent: 奥斯卡 finds 奥斯卡 but not a message with only
// 奥斯 or only 斯卡, or with both apart. CJK text is found wherever it
// occurs inside a longer run of characters: 笔记本 finds
// 知道恋恋笔记本这部电影吗. Mixed words are phrases too: Python教程 finds
// "Python教程" (and "python" alone finds it as well). A single character,
// which the index holds on its own only where it stands alone, is found
// alone or in any pair: 卡 finds 请刷卡 and VIP 卡. A single character at the
// edge of a mixed word is searched on its own, next to the rest, so that 用
// in 用WeChat is found inside 请用WeChat; the word then no longer requires
// that character to touch the rest.
//
// Symbols and punctuation are not indexed: a text word or phrase with no
// letter or digit in it (such as !!!) is an error rather than a search for
// nothing.
//
// # Operators
//
//	a b                 both (AND is the default between clauses)
//	a AND b             the same; AND is accepted for familiarity
//	+a +b               the same; '+' requires, which a clause does anyway
//	a OR b              either
//	-spam, NOT spam     exclude
//	(a OR b) c          parentheses group
//
// Operators are upper case; "or", "and" and "not" are searched as words.
// '-' and '+' must touch their clause ("a - b" is an error).
// Precedence is NOT, then AND, then OR:
//
//	a OR b c            a OR (b AND c)
//	NOT a b             (NOT a) AND b
//	a -b -c             a, but neither b nor c
//	-spam               everything except spam (a query of exclusions only
//	                    starts from every document)
//	a OR -b             a, or anything without b
//
// # Fields
//
// name:value searches the field that Options.Fields maps name to. Names are
// case-insensitive; an unknown name is an error that lists the known ones.
// A field name starts with a letter, so 10:30 is searched as text, but
// text such as re:budget or http://example.com must be quoted (or the colon
// escaped: re\:budget). name:(...) applies the field to every word inside
// the parentheses: from:(alice@x.com OR bob@x.com). A sign at the start of
// a text value is an error, not an exclusion: write -subject:draft, or
// subject:(-draft budget).
// What a value means depends on the field's Kind:
//
//	Text     as a bare word or phrase:     subject:budget, subject:"q3 budget"
//	Keyword  the exact value, case kept:   from:Alice@Example.com, from:"Alice Smith"
//	Date     see below
//	Number   equal, compared or in range:  size:5, size:>=1000, size:[1 TO 10}
//	Bool     true or false:                flagged:true
//
// # Dates
//
// A date names a period, and matches any time within it:
//
//	date:2024                     the whole year
//	date:2024-01                  the whole month [2024-01-01, 2024-02-01)
//	date:2024-01-05               the whole day   [2024-01-05 00:00, 2024-01-06 00:00)
//	date:2024-01-05T09:30         that minute
//	date:2024-01-05T09:30:00Z     that second (RFC 3339; a fraction narrows it)
//
// A date without a zone is in Options.Location (UTC by default); a "Z" or
// "+08:00" suffix overrides it. Comparisons take in or leave out whole
// periods: >= and < start at the beginning of the period, > and <= at its
// end:
//
//	date:>=2024-01-05             from 2024-01-05 00:00 on
//	date:>2024-01-05              from 2024-01-06 00:00 on
//	date:<2024-01-05              before 2024-01-05 00:00
//	date:<=2024-01-05             before 2024-01-06 00:00
//
// In a range, '[' and ']' include the period at that end, '{' and '}'
// exclude it, and '*' leaves the end open. TO may be written to.
//
//	date:[2024-01-01 TO 2024-01-31]   all of January
//	date:[2024-01-01 TO 2024-02-01}   all of January too
//	date:{2024-01-01 TO 2024-01-31}   January 2nd to 30th
//	date:[2024-01-05 TO *]            from January 5th on
//
// A range whose start lies after its end, or that is empty once excluded
// ends are removed, is an error. Numbers follow the same rules, with a
// number naming just itself.
//
// # Wildcards
//
// '*' (any characters) and '?' (one character) make a word a pattern. On a
// text field the pattern is lower-cased and matched against single indexed
// words, so it may hold only letters, digits and '_' (e-mail* is an error:
// the index has no word "e-mail"), and CJK characters are refused (the
// index holds them in pairs). On a keyword field the pattern is matched
// against the exact value, case kept: from:*@example.com. A lone '*' matches
// every document; name:* matches every document with a value in a text or
// keyword field. A pattern starting with a wildcard scans the field's whole
// vocabulary and can be slow on a large archive. A pattern of wildcards only
// (**, ?, *?) is refused: it would read every word of its field. Escape '*'
// or '?' to search for it literally; a word cannot mix escaped and
// unescaped ones.
//
// # Limits
//
// Options.Limits bound what a query may cost (the zero value sets none):
// its length in bytes, its values (each word, phrase, pattern, range or
// comparison), its patterns (name:* counts, the lone * does not, and so
// does a single Chinese or Japanese character standing alone, which is
// searched as the patterns 卡? and ?卡), a pattern's characters, and its
// '*' and '?'. A query over one is refused with a *LimitError
// (errors.Is(err, ErrLimit)) that names the limit, its value and where
// the query went over it.
//
// # Errors
//
// Each of these is an *Error with the byte offset of the character at fault:
// an empty query or phrase, an unterminated quote or range, an unbalanced
// parenthesis, an unknown field, a missing value after "name:", a bad date
// (the message lists the accepted forms) or number, an operator without an
// operand ("a OR", "NOT", "a -"), a range with inverted bounds, a range or
// comparison on a field that is not a date or a number, a wildcard where it
// cannot match, a pattern of wildcards only, and nesting deeper than 100
// levels.
package querystring
