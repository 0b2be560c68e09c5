package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesWithinJitterAndCaps(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return r }}
		base := []time.Duration{100, 200, 400, 800, 1000, 1000}
		for i, ms := range base {
			d, full := b.Next(), ms*time.Millisecond
			if d < full/2 || d > full {
				t.Errorf("r=%v step %d: delay %v outside [%v, %v]", r, i, d, full/2, full)
			}
		}
		b.Reset()
		if d := b.Next(); d > 100*time.Millisecond {
			t.Errorf("after Reset: %v", d)
		}
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep with a canceled context reported a full delay")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep did not complete")
	}
}
