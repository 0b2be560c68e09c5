// Package gossip is an embedded membership provider: the members gossip
// among themselves with the SWIM protocol of github.com/hashicorp/memberlist,
// with no external service.
//
// # Model
//
// Each provider runs one memberlist node named Member.ID() (Peer + "/" +
// Instance) on [Config.BindAddr]:[Config.BindPort] (UDP and TCP). Its
// memberlist node meta carries the rest of the Member (Name, Address, Kinds,
// Meta) in a compact binary form that must fit memberlist's 512 bytes; Start
// fails with [discovery.ErrMetaTooLarge] otherwise. A view holds the nodes
// memberlist considers alive or suspect; a node leaves the views when it
// leaves gracefully (at once) or when memberlist declares it dead (failure
// detection: probe, indirect probes, then a suspicion timeout; see
// [Config]).
//
// A new member joins through [Config.Seeds], the gossip addresses of some
// members that may already run. While the member knows no other node (seeds
// not up yet, or every other node gone), it keeps retrying the seeds with
// capped exponential backoff and jitter, every [Config.RejoinInterval] at
// most. Use [Provider.Addr] to learn a started provider's gossip address.
//
// # Hostile streams
//
// memberlist's TCP streams go through a guard around its NetTransport: a push/pull
// announcing more than [Config.MaxMembers] node states or 1 MiB of user state is
// refused before memberlist allocates for it, memberlist reads at most about
// MaxMembers KiB + 1 MiB from one stream, and at most [Config.MaxInboundStreams]
// inbound streams are handled at once. Encrypted streams are the key's to protect.
//
// # Goroutines
//
// A started provider owns two goroutines: the watcher (rebuilds and
// publishes the view when memberlist reports a change) and the joiner
// (retries the seeds while alone), plus the stream guard's acceptor and a
// checker per inbound stream being checked. memberlist runs its own goroutines
// (listeners, probe, gossip and push/pull timers, packet handler): Stop calls
// Leave then Shutdown, which closes its sockets and waits for its listeners;
// its timer goroutines exit on their own right after, as memberlist offers no
// way to wait for them. memberlist's log lines go to [Config.Logger].
package gossip
