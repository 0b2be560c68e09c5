package actor

import (
	"context"
	"time"
)

// A node whose store fails stops: fail-stop. A commit that failed (a full disk, an I/O
// error, a read-only directory) leaves the node unable to tell what is durable, and a
// replica that cannot write must not answer: the core fails the replicas of the failed
// commit (their callers get the error, never a success), and the node stops as a whole,
// so that the cluster sees one node gone rather than a node that answers without
// writing. It logs the cause once, leaves membership (the others stop routing to it and,
// after EjectAfter, eject it from the replica sets it was in, and carry on), and stops
// remoting; it hands nothing over (that would need commits) and does not drain.

// failStopTimeout bounds leaving membership when the node stops after a failure.
const failStopTimeout = 10 * time.Second

// fail records that the node's store failed with err, logs it once and closes Failed,
// which has failStop stop the node. It returns at once.
func (n *Node) fail(err error) {
	if n.stopped.Load() && n.failure.Load() == nil {
		return // stopping anyway (a commit after the store closed under a stopping node)
	}
	n.failOnce.Do(func() {
		n.failure.Store(&err)
		n.log.Error("node failed: its store cannot write; stopping", "peer", n.peer, "err", err.Error())
		close(n.failed)
	})
}

// failStop stops the node once its store failed. Started by Start and owned by the node;
// it ends when the node stops for another reason, or once its own Stop has returned (Stop
// runs once: a Stop called meanwhile returns when that one has finished). It is not one
// of the goroutines Stop waits for with n.wg, since it may be the one calling Stop.
func (n *Node) failStop() {
	select {
	case <-n.failed:
		ctx, cancel := context.WithTimeout(context.Background(), failStopTimeout)
		defer cancel()
		n.Stop(ctx)
	case <-n.done:
	}
}

// Failed is closed once the node's store has failed: the node is then stopping (or
// stopped) by itself, and Err says why. A program that runs a node should wait on it
// too, and exit with Err.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is the store failure that stopped the node, or nil.
func (n *Node) Err() error {
	if p := n.failure.Load(); p != nil {
		return *p
	}
	return nil
}
