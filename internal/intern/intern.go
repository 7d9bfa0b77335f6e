// Package intern shares equal strings and label sets between the many
// objects a cache holds. A cluster's objects repeat themselves: every pod
// of a ReplicaSet has the same namespace, owner kind, label set, node
// names drawn from a short list; decoded one by one, each copy is an
// allocation of its own. Kept once, 100,000 pods cost hundreds of
// megabytes less.
//
// Shared values must not be changed in place, which is already the rule
// for objects in an informer's or a watch cache's store.
package intern

import (
	"hash/maphash"
	"maps"
	"sync"
	"unique"
)

// String returns the canonical copy of s. Canonical copies are held weakly
// (package unique): one no object uses any more is collected.
func String(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// Strings interns each element of ss in place and returns it.
func Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = String(s)
	}
	return ss
}

// labelSlots is the size of the label-set table: sets seen close together
// in time (a ReplicaSet's pods, a list's page) find each other; a set
// pushed out by another only costs its own copy.
const labelSlots = 1 << 14

// Labels shares label sets (maps of string to string) by their content.
type Labels struct {
	seed  maphash.Seed
	mu    sync.Mutex
	slots [labelSlots]map[string]string
}

// NewLabels returns an empty table.
func NewLabels() *Labels { return &Labels{seed: maphash.MakeSeed()} }

// Share returns a map equal to m that earlier calls may have returned too,
// or, when none is at hand, a new copy of m (its keys and values interned)
// that later calls may return. Empty and nil maps come back as they are.
func (t *Labels) Share(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	// The sum of the pairs' hashes does not depend on the map's order.
	var h uint64
	for k, v := range m {
		var mh maphash.Hash
		mh.SetSeed(t.seed)
		mh.WriteString(k)
		mh.WriteByte(0)
		mh.WriteString(v)
		h += mh.Sum64()
	}
	i := h % labelSlots
	t.mu.Lock()
	if s := t.slots[i]; s != nil && maps.Equal(s, m) {
		t.mu.Unlock()
		return s
	}
	t.mu.Unlock()
	n := make(map[string]string, len(m))
	for k, v := range m {
		n[String(k)] = String(v)
	}
	t.mu.Lock()
	t.slots[i] = n
	t.mu.Unlock()
	return n
}
