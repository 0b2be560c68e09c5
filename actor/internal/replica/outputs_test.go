package replica

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutputCache: a put is found by its key, a second put of a key replaces its output,
// and once the budget is spent the least recently used are forgotten first.
func TestOutputCache(t *testing.T) {
	key := func(i int) string { return fmt.Sprintf("req-%03d", i) }
	out := func(i int) []byte { return []byte(fmt.Sprintf("%03d", i)) }
	per := len(key(0)) + len(out(0)) + OutputEntryBytes
	const fits = 100
	lru := NewOutputLRU(fits * per)
	c := outputCache{c: privateOutputs{lru}, owner: 1}
	c.put("", []byte("x"))
	_, ok := c.get("")
	require.False(t, ok, "an empty key is not cached")
	for i := range fits + 50 {
		c.put(key(i), []byte("pro")) // as long as the output: the count below is exact
		c.put(key(i), out(i))        // as a fold replaces a fast call's projected output
		if i == 60 {
			_, ok := c.get(key(0)) // used: the least recently used is key(1) now
			require.True(t, ok)
		}
	}
	for i := range fits + 50 {
		got, ok := c.get(key(i))
		if i >= 1 && i <= 50 {
			require.False(t, ok, "key %d should have been forgotten", i)
			continue
		}
		require.True(t, ok, "key %d", i)
		require.Equal(t, out(i), got, "key %d", i)
	}
	n, bytes := lru.Len()
	require.Equal(t, fits, n)
	require.Equal(t, fits*per, bytes)
	_, ok = c.get("never put")
	require.False(t, ok)
	// Another replica's cache on the same node holds its own outputs.
	other := outputCache{c: c.c, owner: 2}
	_, ok = other.get(key(0))
	require.False(t, ok, "a replica sees another's output")
	other.add("added", []byte("a"))
	got, ok := other.get("added")
	require.True(t, ok)
	require.Equal(t, []byte("a"), got)
	_, ok = c.get("added")
	require.False(t, ok)
	// A request larger than the budget stays, alone.
	huge := make([]byte, 2*fits*per)
	c.put("huge", huge)
	n, _ = lru.Len()
	require.Equal(t, 1, n)
	got, ok = c.get("huge")
	require.True(t, ok)
	require.Len(t, got, len(huge))
}

// TestOutputCacheRejections: a request rejected when it folded is cached as such (its
// projected output replaced), and get reports no output for it.
func TestOutputCacheRejections(t *testing.T) {
	c := newOutputCache(nil)
	c.put("fast", []byte("projected"))
	rej := errors.New("insufficient funds")
	c.reject("fast", rej)
	c.reject("other", rej)
	for _, req := range []string{"fast", "other"} {
		out, err, ok := c.result(req)
		require.True(t, ok)
		require.Nil(t, out)
		require.Equal(t, rej, err)
		_, ok = c.get(req)
		require.False(t, ok, "a rejection has no output")
	}
	c.put("fast", []byte("final"))
	out, err, ok := c.result("fast")
	require.True(t, ok)
	require.NoError(t, err)
	require.Equal(t, []byte("final"), out)
}
