package replica

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutputCache: a put is found by its key, a second put of a key replaces its output,
// and once more than outputCacheSize keys were put the oldest are forgotten first.
func TestOutputCache(t *testing.T) {
	var c outputCache
	c.put("", []byte("x"))
	_, ok := c.get("")
	require.False(t, ok, "an empty key is not cached")
	key := func(i int) string { return fmt.Sprintf("req-%d", i) }
	out := func(i int) []byte { return []byte(fmt.Sprint(i)) }
	for i := range outputCacheSize + 100 {
		c.put(key(i), []byte("projected"))
		c.put(key(i), out(i)) // as a fold replaces a fast call's projected output
	}
	for i := range outputCacheSize + 100 {
		got, ok := c.get(key(i))
		if i < 100 {
			require.False(t, ok, "key %d should have been forgotten", i)
			continue
		}
		require.True(t, ok, "key %d", i)
		require.Equal(t, out(i), got, "key %d", i)
	}
	_, ok = c.get("never put")
	require.False(t, ok)
	// add is put for a key the cache does not hold (another replica's request, folded).
	c.add("added", []byte("a"))
	got, ok := c.get("added")
	require.True(t, ok)
	require.Equal(t, []byte("a"), got)
	_, ok = c.get(key(100))
	require.False(t, ok, "add takes the oldest slot")
}

// TestOutputCacheRejections: a request rejected when it folded is cached as such (its
// projected output replaced), and get reports no output for it.
func TestOutputCacheRejections(t *testing.T) {
	var c outputCache
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
