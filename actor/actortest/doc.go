// Package actortest starts real Legion nodes in one process, over real loopback remoting
// and an in-memory membership registry, and stages the faults of a real cluster between
// them: broken links, disagreeing membership views, crashes and restarts. It is the
// harness of the runtime's own tests and is meant for tests of applications built on it.
//
// # Starting a cluster
//
// [Start] starts n nodes (named n0, n1, ...) from [Options], waits until each sees all of
// them ([Cluster.WaitConverged]) and stops them when the test ends; [Cluster.AddNode]
// starts one more. A node runs on the store Options.Store opens ([PebbleStores] opens
// pebble stores in temporary directories), on the one Config or Configure sets, or else on
// an in-memory store the cluster keeps for the node's restarts. Nodes log through t.Log
// (at Options.LogLevel and above, each line prefixed with the node's name, shown with -v
// or when the test fails; nothing once the test is over, when t.Log would panic), unless
// Options.NoLogs or a Config.Logger says otherwise. [Eventually] polls a condition with a
// deadline: wait for states with it, never with a sleep.
//
// Every method takes nodes by position in Cluster.Nodes; [Cluster.Index] finds the
// position of a peer (say, a replica from Ref.Replicas).
//
// # Links
//
// Between any two nodes, traffic can be cut ([Cluster.Cut], both ways;
// [Cluster.CutOneWay], one way), delayed ([Cluster.Delay]: messages may overtake each
// other) or made lossy ([Cluster.Drop]), and restored ([Cluster.Heal]). The hooks act on
// the calls, queries and replication messages a node sends (actor's Config.Links, which the
// cluster sets on every node it starts);
// replies travel unaffected (a lost request loses the exchange). A lost call waits out
// its attempt timeout and fails over, as over a real network.
//
// # Membership views
//
// Each node's membership provider is the cluster's wrapper of its provider of the
// registry: it forwards every view the registry publishes, and publishes the last one again
// whenever the faults below change, filtered by them (race-free: each publication is the
// filter of the latest view, under the wrapper's lock, and the feed keeps the latest):
//
//   - [Cluster.Split] splits the cluster into groups: each node's view lists only the
//     members of its own group, and the links between groups are cut both ways at the
//     same moment (the views follow at once; each node applies its new view
//     asynchronously). Nodes named in no group (and nodes added during the split) form
//     one more group together. [Cluster.HealSplit] restores the views and the links it
//     cut (links cut by Cut stay cut).
//   - [Cluster.HideMember] (viewer, member): the viewer's view stops listing member while
//     member still sees the viewer, a one-sided failure detection; [Cluster.ShowMember]
//     undoes it. Links are not touched: pair it with CutOneWay for a one-way link failure.
//   - [PartialView], an option of AddNode and Restart: the node's views, from its very
//     first one, list only itself and the given nodes, until [Cluster.CompleteView].
//   - [Cluster.HealAll] lifts every link and view fault at once.
//
// Registry changes (a node added, crashed or stopped) are filtered the same way.
// [Cluster.ExpectedView] is the view the cluster stages for a node; WaitConverged waits
// until every listed node's view is its staged one.
//
// # Crash and restart
//
// [Cluster.Crash] abandons a node as SIGKILL would: its store stops at the crash point
// (a commit under way completes; every later read or write fails with [ErrCrashed], so
// nothing the node does afterwards is durable, nor acknowledged on the strength of a
// write), its messages are dropped, membership loses it without a leave (as a failure
// detector would: Registry.Kill), and the node is stopped with a context already past its
// deadline, so it drains nothing. Its store is then closed (a dead process releases its
// files). [Cluster.Restart] starts it again on the same data: same name, store reopened,
// hence the same peer, with the link and view faults staged for its position. No change
// to package actor was needed: the crash uses the node's Config.Store (wrapped),
// Config.Membership (wrapped) and Node.Stop with an expired context.
//
// # Checking a kind
//
// [CheckKind] tests a kind's Apply, Query, Clone and Codec without a cluster, on random
// histories of the events and queries a [Gen] draws, against the rules a replicated kind
// must follow (deterministic, its event and state left alone, a Clone that shares
// nothing, a codec that loses nothing), and fails the test with the first broken rule and
// the seed that replays it ([SeedEnv]); docs/kinds.md, "CheckKind", shows how to read a
// failure.
package actortest
