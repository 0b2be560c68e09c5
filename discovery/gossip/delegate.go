package gossip

import "github.com/hashicorp/memberlist"

// delegate gives memberlist the node meta; the other Delegate methods are
// unused (no user messages, no local state to sync).
type delegate struct{ meta []byte }

func (d delegate) NodeMeta(int) []byte           { return d.meta }
func (delegate) NotifyMsg([]byte)                {}
func (delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (delegate) LocalState(bool) []byte          { return nil }
func (delegate) MergeRemoteState([]byte, bool)   {}
func (e events) NotifyJoin(*memberlist.Node)     { e.signal() }
func (e events) NotifyLeave(*memberlist.Node)    { e.signal() }
func (e events) NotifyUpdate(*memberlist.Node)   { e.signal() }

// events turns memberlist's event callbacks into a wake-up of the watcher.
// memberlist calls them with its node lock held, so they must neither block
// nor call back into memberlist: they only mark the view dirty.
type events struct{ changed chan struct{} }

func (e events) signal() {
	select {
	case e.changed <- struct{}{}:
	default: // a wake-up is already pending
	}
}
