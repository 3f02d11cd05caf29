package render

import (
	"testing"
	"time"
)

// Spread's slots: members apart by interval/n, defrag half a slot later,
// in the calendar syntax systemd.time(7) reads for each interval shape.
func TestSpread(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		i, n     int
		half     bool
		want     string
	}{
		{time.Hour, 0, 3, false, "*-*-* *:00:00"},
		{time.Hour, 1, 3, false, "*-*-* *:20:00"},
		{time.Hour, 2, 3, true, "*-*-* *:50:00"},
		{15 * time.Minute, 1, 7, false, "*-*-* *:02/15:08"},
		{30 * time.Minute, 2, 3, false, "*-*-* *:20/30:00"},
		{6 * time.Hour, 1, 5, false, "*-*-* 01/6:12:00"},
		{24 * time.Hour, 2, 3, true, "*-*-* 20:00:00"},
		{24 * time.Hour, 0, 1, false, "*-*-* 00:00:00"},
	} {
		if got := Spread(c.interval, c.i, c.n, c.half); got != c.want {
			t.Errorf("Spread(%v, %d, %d, %v) = %q, want %q", c.interval, c.i, c.n, c.half, got, c.want)
		}
	}
}
