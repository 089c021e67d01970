package querystring

import (
	"regexp"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

// period is the stretch of time a date value names: [start, end).
// 2024 is that year, 2024-01 that month, 2024-01-05 that day,
// 2024-01-05T09:30 that minute, 2024-01-05T09:30:00 that second and
// 2024-01-05T09:30:00.25 that hundredth of a second.
type period struct {
	start, end time.Time
}

// zeroTime leaves an end of a bleve date range open.
var zeroTime time.Time

// dateForm is YYYY[-MM[-DD[THH:MM[:SS[.fraction]][zone]]]].
var dateForm = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:\d{2})?)?)?)?$`)

// dateForms is the part of every bad-date message that says what to write.
const dateForms = "write YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 time such as 2024-01-05T09:30:00Z"

// parseDate reads a date value as the period it names. A value without a
// zone is in the parser's Location.
func (p *parser) parseDate(b bound) (period, error) {
	m := dateForm.FindStringSubmatch(b.text)
	if m == nil {
		return period{}, p.errAt(b.pos, "bad date %q: %s", b.text, dateForms)
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s) // the pattern allows only digits
		return n
	}
	year, month, day := num(m[1], 0), num(m[2], 1), num(m[3], 1)
	hour, minute, sec := num(m[4], 0), num(m[5], 0), num(m[6], 0)
	nsec := 0
	if m[7] != "" {
		nsec = num((m[7] + "000000000")[:9], 0)
	}
	loc := p.loc
	switch zone := m[8]; {
	case zone == "Z" || zone == "z":
		loc = time.UTC
	case zone != "":
		zh, zm := num(zone[1:3], 0), num(zone[4:6], 0)
		if zh > 23 || zm > 59 {
			return period{}, p.errAt(b.pos, "bad date %q: zone offset %s out of range; %s", b.text, zone, dateForms)
		}
		off := zh*3600 + zm*60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone(zone, off)
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return period{}, p.errAt(b.pos, "bad date %q: no such day or time; %s", b.text, dateForms)
	}
	start := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if start.Day() != day { // time.Date normalised e.g. February 30th
		return period{}, p.errAt(b.pos, "bad date %q: no such day; %s", b.text, dateForms)
	}
	var end time.Time
	switch {
	case m[2] == "":
		end = start.AddDate(1, 0, 0)
	case m[3] == "":
		end = start.AddDate(0, 1, 0)
	case m[4] == "":
		end = start.AddDate(0, 0, 1)
	case m[6] == "":
		end = start.Add(time.Minute)
	default:
		unit := time.Second
		for range len(m[7]) {
			unit /= 10
		}
		end = start.Add(unit)
	}
	start, end = start.UTC(), end.UTC()
	if start.Before(query.MinRFC3339CompatibleTime) || end.After(query.MaxRFC3339CompatibleTime) {
		return period{}, p.errAt(b.pos, "date %q is out of the searchable range, years 1678 to 2261", b.text)
	}
	return period{start, end}, nil
}

// dateSpan builds "date:[a TO b]". A bound's bracket says whether the period
// it names is in the range: [2024-01-01 TO 2024-01-31] is all of January,
// {2024-01-01 TO 2024-01-31} is January 2nd to 30th.
func (p *parser) dateSpan(t target, r span) (query.Query, error) {
	var lo, hi period
	var err error
	if !r.lo.open() {
		if lo, err = p.parseDate(r.lo); err != nil {
			return nil, err
		}
	}
	if !r.hi.open() {
		if hi, err = p.parseDate(r.hi); err != nil {
			return nil, err
		}
	}
	from, until := lo.end, hi.start
	if r.loIncl {
		from = lo.start
	}
	if r.hiIncl {
		until = hi.end
	}
	if !r.lo.open() && !r.hi.open() && !from.Before(until) {
		if lo.start.After(hi.start) {
			return nil, p.errAt(r.pos, "inverted range: %s is after %s", r.lo.text, r.hi.text)
		}
		return nil, p.errAt(r.pos, "empty range: nothing lies between %s and %s once the excluded ends are left out", r.lo.text, r.hi.text)
	}
	if r.lo.open() {
		from = zeroTime
	}
	if r.hi.open() {
		until = zeroTime
	}
	return dateRange(t, from, until), nil
}

// dateRange builds the bleve range [from, until); a zero time leaves that
// end open.
func dateRange(t target, from, until time.Time) query.Query {
	var fromIncl, untilIncl *bool
	if !from.IsZero() {
		fromIncl = new(true)
	}
	if !until.IsZero() {
		untilIncl = new(false)
	}
	return withField(query.NewDateRangeInclusiveQuery(from, until, fromIncl, untilIncl), t)
}
