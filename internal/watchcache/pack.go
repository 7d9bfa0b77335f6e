package watchcache

import (
	"bytes"
	"context"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Cold objects are held compressed. Most of a large cache's bytes belong
// to objects nobody has written for a while (a pod once it runs), and the
// objects of one resource repeat each other: the same field names, the
// same managedFields, the same template. Compressed with zstd against a
// dictionary of a few of the resource's own objects, a pod takes about a
// tenth of its bytes. An object is packed once it has been left unchanged
// for PackAfter (and at most twice that); reading it — a list, a watch's
// initial events, a get, an update's starting point — decompresses a copy
// in a few microseconds. Objects just written stay as they are, so the
// events in flight to watchers are never compressed.

// body is how an object holds its stored bytes.
type body struct {
	b []byte
	// codec is nil when b is the object's bytes, otherwise what b was
	// compressed with; size is then the bytes' length.
	codec *codec
	size  int
}

// Value is the object's stored bytes (for a packed object, a new copy).
func (o *Object) Value() ([]byte, error) {
	b := o.body.Load()
	if b == nil {
		return nil, nil
	}
	if b.codec == nil {
		return b.b, nil
	}
	return b.codec.dec.DecodeAll(b.b, make([]byte, 0, b.size))
}

// AppendValue appends the object's stored bytes to dst: a list writes
// packed objects out through one buffer instead of a copy each.
func (o *Object) AppendValue(dst []byte) ([]byte, error) {
	b := o.body.Load()
	if b == nil {
		return dst, nil
	}
	if b.codec == nil {
		return append(dst, b.b...), nil
	}
	return b.codec.dec.DecodeAll(b.b, dst)
}

// Size is the length of the object's stored bytes.
func (o *Object) Size() int {
	b := o.body.Load()
	switch {
	case b == nil:
		return 0
	case b.codec == nil:
		return len(b.b)
	}
	return b.size
}

// Packed reports whether the object is held compressed.
func (o *Object) Packed() bool {
	b := o.body.Load()
	return b != nil && b.codec != nil
}

// codec compresses a cache's cold objects against a raw dictionary made of
// some of them.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

const (
	// dictSamples objects, at most dictMax bytes, make a dictionary: with
	// one pod as the dictionary a sibling pod packs to a tenth, with eight
	// from different Deployments to a twelfth.
	dictSamples = 8
	dictMax     = 32 << 10
	dictID      = 1
	packWindow  = 128 << 10
)

func newCodec(samples [][]byte) (*codec, error) {
	var dict []byte
	for _, s := range samples {
		if len(dict)+len(s) > dictMax {
			break
		}
		dict = append(dict, s...)
	}
	// A small window: objects are small, and the default window's history
	// cost 3 MB an encoder.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(packWindow), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false),
		zstd.WithEncoderDictRaw(dictID, dict))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderDictRaw(dictID, dict))
	if err != nil {
		return nil, err
	}
	return &codec{enc: enc, dec: dec}, nil
}

// packCold packs, every PackAfter, the objects last written before the
// previous tick, until ctx ends. rev is the revision the cache listed at.
func (c *Cache) packCold(ctx context.Context, rev int64) {
	if c.cfg.PackAfter < 0 {
		return
	}
	tick := time.NewTicker(c.cfg.PackAfter)
	defer tick.Stop()
	from, to := int64(0), rev
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := c.pack(from, to)
		if err != nil {
			c.cfg.Log.Error("watch cache: cannot compress", "prefix", c.cfg.Prefix, "err", err)
			return
		}
		if st.Objects > 0 {
			c.cfg.Log.Debug("watch cache: compressed cold objects", "prefix", c.cfg.Prefix,
				"objects", st.Objects, "bytes", st.Before, "compressed", st.After)
		}
		if !st.Idle { // a small cache considers the same objects again
			from = to
		}
		to = c.Revision()
	}
}

// PackStats counts what one packing pass compressed.
type PackStats struct {
	// Idle: the cache held fewer than PackMin objects and considered none.
	Idle          bool
	Objects       int
	Before, After int // bytes
}

// pack compresses the plain objects last written in (from, to], in the
// tree and in the window, when the cache holds at least PackMin objects.
// An object that would not shrink by an eighth stays as it is.
func (c *Cache) pack(from, to int64) (PackStats, error) {
	c.packMu.Lock()
	defer c.packMu.Unlock()
	var cands []*Object
	add := func(o *Object) {
		if o != nil && o.Revision > from && o.Revision <= to && !o.Packed() {
			cands = append(cands, o)
		}
	}
	c.mu.RLock()
	if c.tree.Len() < c.cfg.PackMin {
		c.mu.RUnlock()
		return PackStats{Idle: true}, nil
	}
	// The dictionary's samples: objects spread over the whole key range
	// (other namespaces, other owners).
	var samples []*Object
	every, i := max(1, c.tree.Len()/dictSamples), 0
	c.tree.Ascend(func(o *Object) bool {
		add(o)
		if c.codec == nil && i%every == 0 && len(samples) < dictSamples {
			samples = append(samples, o)
		}
		i++
		return true
	})
	for _, ch := range c.window {
		add(ch.obj)
		add(ch.prev)
	}
	c.mu.RUnlock()
	if len(cands) == 0 {
		return PackStats{}, nil
	}
	if c.codec == nil {
		var dict [][]byte
		for _, o := range samples {
			if v, err := o.Value(); err == nil && len(v) > 0 {
				dict = append(dict, v)
			}
		}
		k, err := newCodec(dict)
		if err != nil {
			return PackStats{}, err
		}
		c.codec = k
	}
	var st PackStats
	var scratch []byte
	for _, o := range cands {
		b := o.body.Load()
		if b == nil || b.codec != nil || len(b.b) == 0 {
			continue // a window's key-only copy, or packed through another path
		}
		scratch = c.codec.enc.EncodeAll(b.b, scratch[:0])
		if len(scratch) > len(b.b)-len(b.b)/8 {
			continue
		}
		o.body.Store(&body{b: bytes.Clone(scratch), codec: c.codec, size: len(b.b)})
		st.Objects++
		st.Before += len(b.b)
		st.After += len(scratch)
	}
	return st, nil
}

// Stats is what a cache holds.
type Stats struct {
	Objects, Packed int
	// PlainBytes: the bytes of the objects held as they are; PackedBytes:
	// the compressed bytes of the others.
	PlainBytes, PackedBytes int
}

// Stats walks the cache's current objects (not the window's).
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var st Stats
	c.tree.Ascend(func(o *Object) bool {
		st.Objects++
		if b := o.body.Load(); b != nil {
			if b.codec != nil {
				st.Packed++
				st.PackedBytes += len(b.b)
			} else {
				st.PlainBytes += len(b.b)
			}
		}
		return true
	})
	return st
}
