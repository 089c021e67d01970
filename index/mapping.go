package index

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/regexp"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/index/querystring"
)

// Index field names. They are the mapping's contract with queries, facets
// and sorts; the user-facing names accepted in a query string are in
// queryFields.
const (
	fieldText     = "text"
	fieldAttach   = "attachment"
	fieldSrc      = "src"
	fieldID       = "id"
	fieldVersion  = "version"
	fieldAction   = "action"
	fieldPlatform = "platform"
	fieldTenant   = "tenant"
	fieldType     = "type"
	fieldConv     = "conversation"
	fieldConvKind = "conversation_kind"
	fieldFrom     = "from"
	fieldFromName = "from_name"
	fieldFromDept = "from_department"
	fieldTo       = "to"
	fieldPart     = "participant"
	fieldPartDept = "participant_department"
	fieldSegment  = "segment"
	fieldSentAt   = "sent_at"
	fieldRetain   = "retain_until"
	fieldDay      = "day"
	fieldLatest   = "latest"
)

// doc is one message version as bleve indexes it. Every exported field is
// mapped (the mapping is static: nothing else is indexed); only Text and Src
// are stored. Src is the JSON of stored: what a Hit is rebuilt from, and
// what lets an older version be re-indexed with latest=false without going
// back to storage.
type doc struct {
	ID           string    `json:"id"`
	Version      int       `json:"version"`
	Action       string    `json:"action"`
	Platform     string    `json:"platform"`
	Tenant       string    `json:"tenant"`
	Type         string    `json:"type"`
	Conversation string    `json:"conversation"`
	ConvKind     string    `json:"conversation_kind"`
	From         string    `json:"from"`
	FromName     string    `json:"from_name"`
	FromDept     string    `json:"from_department"`
	To           []string  `json:"to"`
	Participant  []string  `json:"participant"`
	PartDept     []string  `json:"participant_department"`
	Segment      string    `json:"segment"`
	SentAt       time.Time `json:"sent_at"`
	RetainUntil  time.Time `json:"retain_until"`
	Day          string    `json:"day"`
	Latest       bool      `json:"latest"`
	Text         string    `json:"text"`
	Attachment   []string  `json:"attachment"`
	Src          string    `json:"src"`
}

// stored is the part of a Hit kept in the index beside the text: enough to
// show a hit and to re-index it, never the raw payload.
type stored struct {
	Action       string                `json:"a"`
	Platform     string                `json:"p"`
	Tenant       string                `json:"t"`
	Type         string                `json:"ty"`
	Conversation archive.Conversation  `json:"c"`
	From         archive.Participant   `json:"f"`
	To           []archive.Participant `json:"to,omitempty"`
	SentAt       time.Time             `json:"s"`
	Attachments  []string              `json:"at,omitempty"`
	RetainUntil  time.Time             `json:"r"`
	Policy       string                `json:"po,omitempty"`
	Segment      string                `json:"sg"`
	Latest       bool                  `json:"l"`
	Location     archive.ManifestEntry `json:"loc"`
}

// docID is the bleve document id of one message version.
func docID(id string, version int) string {
	return id + "/" + strconv.Itoa(version)
}

// hitFromMessage is what indexing m, found at e in segment key, shows.
func hitFromMessage(m *archive.Message, key string, e archive.ManifestEntry) Hit {
	h := Hit{
		ID: m.ID, Version: m.Version, Action: string(m.Action), Platform: m.Platform,
		Tenant: m.Tenant, Type: m.Type, Conversation: m.Conversation, From: m.From,
		To: m.To, SentAt: m.SentAt.UTC(), Text: m.Text, RetainUntil: m.RetainUntil.UTC(),
		Policy: m.Policy, Segment: key, SHA256: m.SHA256, Location: e,
	}
	if len(m.Attachments) > 0 {
		h.Attachments = make([]string, len(m.Attachments))
		for i, a := range m.Attachments {
			h.Attachments[i] = a.Name
		}
	}
	return h
}

// newDoc returns the bleve document for h.
func newDoc(h *Hit) (*doc, error) {
	src, err := json.Marshal(stored{
		Action: h.Action, Platform: h.Platform, Tenant: h.Tenant, Type: h.Type,
		Conversation: h.Conversation, From: h.From, To: h.To, SentAt: h.SentAt,
		Attachments: h.Attachments, RetainUntil: h.RetainUntil, Policy: h.Policy,
		Segment: h.Segment, Latest: h.Latest, Location: h.Location,
	})
	if err != nil {
		return nil, fmt.Errorf("encode stored fields of %s: %w", docID(h.ID, h.Version), err)
	}
	d := &doc{
		ID: h.ID, Version: h.Version, Action: h.Action, Platform: h.Platform,
		Tenant: h.Tenant, Type: h.Type, Conversation: h.Conversation.ID,
		ConvKind: h.Conversation.Kind, From: h.From.ID, FromName: h.From.Name,
		FromDept: h.From.Department, Segment: h.Segment, SentAt: h.SentAt,
		RetainUntil: h.RetainUntil, Day: h.SentAt.Format(time.DateOnly),
		Latest: h.Latest, Text: h.Text, Attachment: h.Attachments, Src: string(src),
	}
	d.Participant = append(make([]string, 0, len(h.To)+1), h.From.ID)
	if h.From.Department != "" {
		d.PartDept = append(d.PartDept, h.From.Department)
	}
	if len(h.To) > 0 {
		d.To = make([]string, len(h.To))
		for i, p := range h.To {
			d.To[i] = p.ID
			d.Participant = append(d.Participant, p.ID)
			if p.Department != "" {
				d.PartDept = append(d.PartDept, p.Department)
			}
		}
	}
	return d, nil
}

// hitFromFields rebuilds a Hit from a search hit's stored fields.
func hitFromFields(id string, fields map[string]interface{}) (Hit, error) {
	src, _ := fields[fieldSrc].(string)
	var s stored
	if err := json.Unmarshal([]byte(src), &s); err != nil {
		return Hit{}, fmt.Errorf("stored fields of %s: %w", id, err)
	}
	text, _ := fields[fieldText].(string)
	return Hit{
		ID: s.Location.ID, Version: s.Location.Version, Action: s.Action,
		Platform: s.Platform, Tenant: s.Tenant, Type: s.Type,
		Conversation: s.Conversation, From: s.From, To: s.To, SentAt: s.SentAt,
		Text: text, Attachments: s.Attachments, RetainUntil: s.RetainUntil,
		Policy: s.Policy, Segment: s.Segment, SHA256: s.Location.SHA256,
		Latest: s.Latest, Location: s.Location,
	}, nil
}

// storedFields are the fields a search loads for each hit.
var storedFields = []string{fieldText, fieldSrc}

// textAnalyzer analyses message text and attachment names. It is bleve's
// cjk analyzer (full-width folding, lowercase, overlapping bigrams of
// Chinese, Japanese and Korean characters) with a different tokenizer:
// where bleve's unicode tokenizer follows UAX #29 and keeps
// "bugzilla.ubuntu.com", "don't" and "2.31AM" as single words, so that a
// search for "ubuntu" silently misses "bugzilla.ubuntu.com", this one
// splits at every character that is not a letter, mark or digit. Runs of
// CJK characters stay whole for the bigram filter.
const textAnalyzer = "holdfast_text"

// wordPattern matches a run of CJK characters, or a run of other letters,
// marks and digits.
const wordPattern = `[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]+|(?:[^\P{L}\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]|[\p{N}\p{M}])+`

func addTextAnalyzer(m *mapping.IndexMappingImpl) error {
	if err := m.AddCustomTokenizer("holdfast_words", map[string]interface{}{
		"type": regexp.Name, "regexp": wordPattern,
	}); err != nil {
		return fmt.Errorf("text tokenizer: %w", err)
	}
	if err := m.AddCustomAnalyzer(textAnalyzer, map[string]interface{}{
		"type":          custom.Name,
		"tokenizer":     "holdfast_words",
		"token_filters": []string{cjk.WidthName, lowercase.Name, cjk.BigramName},
	}); err != nil {
		return fmt.Errorf("text analyzer: %w", err)
	}
	return nil
}

// newMapping returns the mapping of every partition. It is static: no
// dynamic fields, no _all, docvalues only where a sort or a facet needs them.
func newMapping() *mapping.IndexMappingImpl {
	text := func(store bool) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = textAnalyzer
		f.Store = store
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	keywordField := func(docValues bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = docValues
		return f
	}
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt(fieldText, text(true))
	dm.AddFieldMappingsAt(fieldAttach, text(false))
	for _, name := range []string{fieldID, fieldAction, fieldTenant, fieldType, fieldConvKind,
		fieldFromName, fieldFromDept, fieldTo, fieldPart, fieldPartDept, fieldSegment} {
		dm.AddFieldMappingsAt(name, keywordField(false))
	}
	// Facets read docvalues.
	for _, name := range []string{fieldPlatform, fieldFrom, fieldConv, fieldDay} {
		dm.AddFieldMappingsAt(name, keywordField(true))
	}
	src := bleve.NewTextFieldMapping()
	src.Analyzer = keyword.Name
	src.Index, src.Store = false, true
	src.IncludeTermVectors, src.IncludeInAll, src.DocValues = false, false, false
	dm.AddFieldMappingsAt(fieldSrc, src)

	sentAt := bleve.NewDateTimeFieldMapping()
	sentAt.Store, sentAt.IncludeInAll = false, false // docvalues kept: the time sort
	dm.AddFieldMappingsAt(fieldSentAt, sentAt)
	retain := bleve.NewDateTimeFieldMapping()
	retain.Store, retain.IncludeInAll, retain.DocValues = false, false, false
	dm.AddFieldMappingsAt(fieldRetain, retain)
	version := bleve.NewNumericFieldMapping()
	version.Store, version.IncludeInAll, version.DocValues = false, false, false
	dm.AddFieldMappingsAt(fieldVersion, version)
	latest := bleve.NewBooleanFieldMapping()
	latest.Store, latest.IncludeInAll, latest.DocValues = false, false, false
	dm.AddFieldMappingsAt(fieldLatest, latest)
	dm.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())

	m := bleve.NewIndexMapping()
	if err := addTextAnalyzer(m); err != nil {
		panic(err) // static configuration: a failure is a bug
	}
	m.DefaultMapping = dm
	m.DefaultAnalyzer = textAnalyzer
	m.DefaultField = fieldText
	m.IndexDynamic, m.StoreDynamic, m.DocValuesDynamic = false, false, false
	return m
}

// queryFields are the field names a query string accepts before a colon.
var queryFields = map[string]querystring.Field{
	"text":              {Index: fieldText, Kind: querystring.Text},
	"attachment":        {Index: fieldAttach, Kind: querystring.Text},
	"id":                {Index: fieldID, Kind: querystring.Keyword},
	"version":           {Index: fieldVersion, Kind: querystring.Number},
	"action":            {Index: fieldAction, Kind: querystring.Keyword},
	"platform":          {Index: fieldPlatform, Kind: querystring.Keyword},
	"tenant":            {Index: fieldTenant, Kind: querystring.Keyword},
	"type":              {Index: fieldType, Kind: querystring.Keyword},
	"conversation":      {Index: fieldConv, Kind: querystring.Keyword},
	"conversation_kind": {Index: fieldConvKind, Kind: querystring.Keyword},
	"from":              {Index: fieldFrom, Kind: querystring.Keyword},
	"from_name":         {Index: fieldFromName, Kind: querystring.Keyword},
	"from_department":   {Index: fieldFromDept, Kind: querystring.Keyword},
	"to":                {Index: fieldTo, Kind: querystring.Keyword},
	"participant":       {Index: fieldPart, Kind: querystring.Keyword},
	"department":        {Index: fieldPartDept, Kind: querystring.Keyword},
	"segment":           {Index: fieldSegment, Kind: querystring.Keyword},
	"sent":              {Index: fieldSentAt, Kind: querystring.Date},
	"date":              {Index: fieldSentAt, Kind: querystring.Date},
	"retain_until":      {Index: fieldRetain, Kind: querystring.Date},
	"day":               {Index: fieldDay, Kind: querystring.Keyword},
	"latest":            {Index: fieldLatest, Kind: querystring.Bool},
}

// QueryFields returns the field names a Request.Query may use before a
// colon ("from:alice"), sorted; bare words and "phrases" search the text.
func QueryFields() []string {
	names := make([]string, 0, len(queryFields))
	for n := range queryFields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// monthKey numbers the calendar month of t (UTC) so that months compare as
// integers: year*12 + month-1.
func monthKey(t time.Time) int {
	y, m, _ := t.UTC().Date()
	return y*12 + int(m) - 1
}

// monthName is "2026-11" for month k.
func monthName(k int) string {
	return fmt.Sprintf("%04d-%02d", k/12, k%12+1)
}

// parseMonth reads "2026-11".
func parseMonth(s string) (int, error) {
	t, err := time.Parse("2006-01", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("month %q: want YYYY-MM: %w", s, ErrBadRequest)
	}
	return monthKey(t), nil
}
