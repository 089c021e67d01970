package archive

import "time"

// Period is a retention length as people write it ("7y", "90d", "36h"),
// added to a time by calendar: seven years after 29 February is 1 March,
// never a day early. config.Period implements it.
type Period interface {
	AddTo(t time.Time) time.Time
}

// RetainUntil is the date a record sent at sentAt must be kept until under
// period, raised so that it is at least floor after now: storage refuses a
// retain-until date in the past, and a back-filled record whose retention
// already ran out is still kept for the floor.
func RetainUntil(sentAt time.Time, period Period, floor time.Duration, now time.Time) time.Time {
	return AtLeastFloor(period.AddTo(sentAt.UTC()), floor, now)
}

// AtLeastFloor returns until, raised to floor after now when it is sooner:
// the least retention any record, or any object holding records, gets.
func AtLeastFloor(until time.Time, floor time.Duration, now time.Time) time.Time {
	if min := now.UTC().Add(floor); until.Before(min) {
		until = min
	}
	return until.UTC()
}

// RetentionDay is the UTC day on which a record kept until t expires. A
// segment holds records of one tenant and one retention day, so the whole
// object expires, and can be deleted, at once.
func RetentionDay(t time.Time) string {
	return t.UTC().Format("2006-01-02")
}
