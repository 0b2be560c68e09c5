package actor

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor/internal/replica"
)

// TestNodeOutputsBudget: many replicas putting into one node's cache, from several
// goroutines (as a node's shards do), keep it within its budget, and it holds about as
// much as the budget allows; a new output is there, the oldest went.
func TestNodeOutputsBudget(t *testing.T) {
	const budget = 256 << 10
	o := newNodeOutputs(budget)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 250 {
				owner := o.Owner()
				for i := range 40 {
					o.Set(replica.OutputKey{Owner: owner, Req: fmt.Sprintf("%024x", i)}, []byte("12345678"), nil)
				}
			}
		}()
	}
	wg.Wait()
	n, bytes := o.Len()
	require.LessOrEqual(t, bytes, budget)
	require.Greater(t, bytes, budget*3/4, "the cache holds far less than its budget")
	require.Equal(t, bytes/(24+8+replica.OutputEntryBytes), n)
	k := replica.OutputKey{Owner: o.Owner(), Req: "new"}
	o.Set(k, []byte("1"), nil)
	_, _, ok := o.Result(k)
	require.True(t, ok)
	_, _, ok = o.Result(replica.OutputKey{Owner: 1, Req: fmt.Sprintf("%024x", 0)})
	require.False(t, ok)
}

// BenchmarkNodeOutputsSet: what a fold costs the node's cache (every replica puts the
// output of every request it folds), with 1,000 replicas putting in turn.
func BenchmarkNodeOutputsSet(b *testing.B) {
	o := newNodeOutputs(32 << 20)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("%024x", i)
	}
	out := []byte("12345678")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o.Set(replica.OutputKey{Owner: uint64(i%1000 + 1), Req: keys[i%len(keys)]}, out, nil)
	}
}
