// Package keys is the key layout of ordered key-value Store implementations.
//
// Every partition key starts with the space byte 'p', then Kind and Key each
// encoded with an order-preserving, prefix-free escape, then a tag:
//
//	'p' esc(kind) esc(key) 0x01       the snapshot
//	'p' esc(kind) esc(key) 0x02 id    one delta; id raw (it is the last component)
//
// Store bookkeeping lives in the space 'm' (Meta), outside every partition;
// the marks (storage.Mark) in the space 'i', ordered by reason, then due time:
//
//	'i' reason be64(due ^ 1<<63) esc(kind) esc(key)   one mark; empty value
//
// esc(s) writes s with every 0x00 byte replaced by 0x00 0xFF, then the
// terminator 0x00 0x01. No encoded string is a prefix of another, so two
// different (kind, key) pairs never share a partition prefix, whatever bytes
// they hold; and bytewise order of encodings is the order of the strings, so
// a scan returns keys in key order and deltas in id order.
//
// Hence Load is one scan over PartitionPrefix, Partitions one scan over
// KindPrefix (seeking past each partition), DeletePartition one range
// deletion [PartitionPrefix, PrefixEnd(PartitionPrefix)).
package keys
