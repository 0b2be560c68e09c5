package actor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery/memory"
)

// TestAttemptToAGoneRouter: an attempt on a peer whose router is gone (it is stopping:
// Proto.Actor answers a dead letter) fails as one with no reply, so the call tries the
// next replica; it was the call's result before ("unexpected reply
// *actor.DeadLetterResponse", TestPlannedDeparture in CI).
func TestAttemptToAGoneRouter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := memory.NewRegistry()
	var nodes []*Node
	for _, name := range []string{"a", "b"} {
		n, err := Start(ctx, Config{Name: name, Membership: reg.Provider(), Kinds: []KindSpec{plusKind}})
		require.NoError(t, err)
		defer n.Stop(ctx)
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	require.NoError(t, a.WaitForMembers(ctx, plusKind.kindName(), 2))
	require.NoError(t, b.system.Root.PoisonFuture(b.router).Wait())

	q := &wire.Query{To: &wire.Target{Kind: plusKind.kindName(), Key: "k", Peer: string(b.Peer())}}
	res, sent, err := a.try(ctx, b.Peer(), q)
	require.Nil(t, res)
	require.True(t, sent, "it may have been delivered")
	require.ErrorIs(t, err, errUndeliverable)
	require.True(t, errors.Is(err, errNoReply), "counted and suspected as no reply")
}
