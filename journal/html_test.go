package journal

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextFromHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\nb"},
		{"a<br>b<br/>c<BR />d", "a\nb\nc\nd"},
		{`<div><div><at id="0">Alex Wilber</at>&nbsp;Hello team</div></div>`, "Alex Wilber Hello team"},
		{"x &lt; y &amp;&amp; z &quot;q&quot; &#x4e2d;&#25991;", `x < y && z "q" 中文`},
		{"<script>alert('<p>')</script>ok", "ok"},
		{"<style>p { color: red }</style><b>bold</b> text", "bold text"},
		{"a < b and c > d", "a < b and c > d"},
		{`<p><emoji id="smile" alt="🙂" title="Smile"></emoji></p>`, "🙂"},
		{`<img src=x.png alt='a &amp; b'>`, "a & b"},
		{`<img alt="&amp;lt;">`, "&lt;"},
		{"<script>x</SCRIPT >y</script>z", "yz"},
		{"<!-- hidden <b>x</b> -->shown", "shown"},
		{"  many   spaces\n\n  here ", "many spaces here"},
		{`<a href="x>y">link</a> after`, "link after"},
		{"<p>unterminated", "unterminated"},
		{"text<", "text<"},
		{"<b", ""},
		{"中文<br>测试", "中文\n测试"},
		{"<P>upper</P><DIV>case</DIV>", "upper\ncase"},
		{"<ul><li>one</li><li>two</li></ul>", "one\ntwo"},
		{"\n<codeblock class=\"\"><code>Hello world</code></codeblock>", "Hello world"},
		{"<span>in</span><span>line</span>", "inline"},
		{"Scheduled a meeting<attachment id=\"1628156567881\"></attachment>", "Scheduled a meeting"},
		{"", ""},
	} {
		if got := htmlToText(c.in); got != c.want {
			t.Errorf("htmlToText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzTextFromHTML(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<at id=\"0\">x</at>&nbsp;y", "<script>", "<!--", "<a b='>", "&#xZZ;", "<emoji alt=\"\xff\">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := htmlToText(s)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("valid input %q gave invalid UTF-8 %q", s, got)
		}
		for _, l := range strings.Split(got, "\n") {
			if got != "" && (l == "" || strings.TrimSpace(l) != l) {
				t.Fatalf("line %q of %q is empty or not trimmed", l, got)
			}
		}
	})
}
