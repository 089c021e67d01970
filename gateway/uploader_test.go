package gateway

import (
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
)

func TestGroupNamesMatchRetentionDay(t *testing.T) {
	n := groupNames{}
	base := time.Date(2033, 1, 2, 0, 0, 0, 0, time.UTC)
	times := []time.Time{base, base.Add(-time.Nanosecond), base.Add(24*time.Hour - time.Nanosecond), base.Add(24 * time.Hour),
		base.In(time.FixedZone("", 8*3600)), time.Unix(-1, 0), time.Unix(-86400, 0), time.Unix(-86401, 0), time.Unix(0, 0)}
	for _, tenant := range []string{"acme", "a"} {
		for _, at := range times {
			h := spoolHeader{Tenant: tenant, RetainUntil: at}
			if got, want := n.of(&h), tenant+"|"+archive.RetentionDay(at); got != want {
				t.Errorf("group of %s at %v = %q, want %q", tenant, at, got, want)
			}
		}
	}
}
