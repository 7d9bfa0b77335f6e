// Package ipalloc chooses ClusterIPs and NodePorts. It never writes: each
// chosen value is named by a claim key that the registry takes in the same
// etcd transaction as the Service itself, so a value is held exactly as long
// as the object holding it exists, across restarts and across servers.
package ipalloc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// lockedRand is a seeded generator that concurrent requests may share
// (*rand.Rand is not safe for concurrent use).
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed, stream uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(seed, stream))}
}

// Uint64N is a uniform value in [0, n).
func (l *lockedRand) Uint64N(n uint64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint64N(n)
}

// IntN is a uniform value in [0, n).
func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// Claim key prefixes.
const (
	ServiceIPPrefix = "/registry/ipalloc/serviceips/"
	NodePortPrefix  = "/registry/ipalloc/nodeports/"
)

// ErrFull means every value of a range is held.
var ErrFull = errors.New("range is full")

// KeyLister lists the claim keys under a prefix.
type KeyLister interface {
	ListKeys(ctx context.Context, prefix string) ([]string, error)
}

// Range is one CIDR to allocate from.
type Range struct {
	Prefix netip.Prefix
	// size is the number of usable offsets [1, size]; capped at 1<<62.
	size uint64
	// static is the number of low offsets left for explicit requests.
	static uint64
}

// NewRange checks a service CIDR.
func NewRange(p netip.Prefix) (Range, error) {
	p = p.Masked()
	bits := p.Addr().BitLen() - p.Bits()
	if bits < 2 {
		return Range{}, fmt.Errorf("service CIDR %s is too small", p)
	}
	var size uint64 = 1 << 62
	if bits < 62 {
		size = (uint64(1) << bits) - 2 // no network or broadcast address
		if p.Addr().Is6() {
			size = (uint64(1) << bits) - 1 // IPv6 has no broadcast
		}
	}
	static := min(max(size/16, 16), 256)
	if static >= size {
		static = 0
	}
	return Range{Prefix: p, size: size, static: static}, nil
}

// Contains reports whether ip is a usable address of the range.
func (r Range) Contains(ip netip.Addr) bool {
	if !r.Prefix.Contains(ip) {
		return false
	}
	off, ok := r.offset(ip)
	return ok && off >= 1 && off <= r.size
}

// At is the address at offset n (1-based) of the range.
func (r Range) At(n uint64) netip.Addr {
	b := r.Prefix.Addr().As16()
	carry := n
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + (carry & 0xff)
		b[i] = byte(sum)
		carry = (carry >> 8) + (sum >> 8)
	}
	a := netip.AddrFrom16(b)
	if r.Prefix.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

func (r Range) offset(ip netip.Addr) (uint64, bool) {
	x, base := ip.Unmap().As16(), r.Prefix.Addr().As16()
	var xl, bl uint64
	for i := 0; i < 16; i++ {
		if i < 8 {
			if x[i] != base[i] {
				return 0, false
			}
			continue
		}
		xl = xl<<8 | uint64(x[i])
		bl = bl<<8 | uint64(base[i])
	}
	if xl < bl {
		return 0, false
	}
	return xl - bl, true
}

// Allocator picks ClusterIPs from one range per IP family.
type Allocator struct {
	ranges []Range // primary family first
	keys   KeyLister
	rnd    *lockedRand
}

// New builds an allocator; cidrs is one CIDR, or an IPv4,IPv6 pair in either
// order for dual-stack (the first is the primary family).
func New(cidrs []netip.Prefix, keys KeyLister, seed uint64) (*Allocator, error) {
	if len(cidrs) == 0 || len(cidrs) > 2 {
		return nil, fmt.Errorf("want one or two service CIDRs, got %d", len(cidrs))
	}
	if len(cidrs) == 2 && cidrs[0].Addr().Is4() == cidrs[1].Addr().Is4() {
		return nil, fmt.Errorf("dual-stack service CIDRs %s and %s must be one IPv4 and one IPv6", cidrs[0], cidrs[1])
	}
	a := &Allocator{keys: keys, rnd: newLockedRand(seed, seed^0x9e3779b97f4a7c15)}
	for _, c := range cidrs {
		r, err := NewRange(c)
		if err != nil {
			return nil, err
		}
		a.ranges = append(a.ranges, r)
	}
	return a, nil
}

// ParseCIDRs parses a comma-separated CIDR list.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Families lists the served families, primary first ("IPv4" or "IPv6").
func (a *Allocator) Families() []string {
	out := make([]string, len(a.ranges))
	for i, r := range a.ranges {
		out[i] = Family(r.Prefix.Addr())
	}
	return out
}

// Range returns the range of a family.
func (a *Allocator) Range(family string) (Range, bool) {
	for _, r := range a.ranges {
		if Family(r.Prefix.Addr()) == family {
			return r, true
		}
	}
	return Range{}, false
}

// Family names the IP family of an address.
func Family(ip netip.Addr) string {
	if ip.Is4() || ip.Is4In6() {
		return "IPv4"
	}
	return "IPv6"
}

// Key is the claim key of a ClusterIP.
func Key(ip netip.Addr) string { return ServiceIPPrefix + ip.Unmap().String() }

// Pick chooses a free-looking address of the family. The first attempts
// guess at random (free in a sparse range); later attempts read the held
// claims and choose among the free addresses, so a nearly full range still
// allocates. The claim can still lose a race; the caller retries.
func (a *Allocator) Pick(ctx context.Context, family string, attempt int) (netip.Addr, error) {
	r, ok := a.Range(family)
	if !ok {
		return netip.Addr{}, fmt.Errorf("no %s service CIDR is configured", family)
	}
	lo, n := r.static+1, r.size-r.static
	if attempt < 3 {
		return r.At(lo + a.rnd.Uint64N(n)), nil
	}
	keys, err := a.keys.ListKeys(ctx, ServiceIPPrefix)
	if err != nil {
		return netip.Addr{}, err
	}
	held := make(map[netip.Addr]bool, len(keys))
	for _, k := range keys {
		if ip, err := netip.ParseAddr(strings.TrimPrefix(k, ServiceIPPrefix)); err == nil {
			held[ip] = true
		}
	}
	start := a.rnd.Uint64N(n)
	for i := uint64(0); i < n && i < uint64(len(held))+1024; i++ {
		ip := r.At(lo + (start+i)%n)
		if !held[ip] {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("failed to allocate a serviceIP: %w", ErrFull)
}

// PortRange is the NodePort range.
type PortRange struct {
	Base, Size int
	keys       KeyLister
	rnd        *lockedRand
}

// NewPortRange parses "30000-32767".
func NewPortRange(s string, keys KeyLister, seed uint64) (*PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return nil, fmt.Errorf("invalid port range %q", s)
	}
	return &PortRange{Base: a, Size: b - a + 1, keys: keys, rnd: newLockedRand(seed, 7)}, nil
}

// Contains reports whether port is in the range.
func (p *PortRange) Contains(port int) bool { return port >= p.Base && port < p.Base+p.Size }

// PortKey is the claim key of a NodePort.
func PortKey(proto string, port int) string {
	return NodePortPrefix + strings.ToLower(proto) + "/" + strconv.Itoa(port)
}

// Pick chooses a NodePort, like Allocator.Pick.
func (p *PortRange) Pick(ctx context.Context, proto string, attempt int) (int, error) {
	if attempt < 3 {
		return p.Base + p.rnd.IntN(p.Size), nil
	}
	prefix := NodePortPrefix + strings.ToLower(proto) + "/"
	keys, err := p.keys.ListKeys(ctx, prefix)
	if err != nil {
		return 0, err
	}
	held := map[int]bool{}
	for _, k := range keys {
		if n, err := strconv.Atoi(strings.TrimPrefix(k, prefix)); err == nil {
			held[n] = true
		}
	}
	start := p.rnd.IntN(p.Size)
	for i := 0; i < p.Size; i++ {
		port := p.Base + (start+i)%p.Size
		if !held[port] {
			return port, nil
		}
	}
	return 0, fmt.Errorf("failed to allocate a nodePort: %w", ErrFull)
}

// PodCIDRPrefix is the claim prefix of node pod CIDRs.
const PodCIDRPrefix = "/registry/ipalloc/podcidrs/"

// SubnetKey is the claim key of a node's pod CIDR.
func SubnetKey(p netip.Prefix) string {
	return PodCIDRPrefix + strings.ReplaceAll(p.Masked().String(), "/", "-")
}

// Subnets hands out one subnet per node from a cluster CIDR.
type Subnets struct {
	Cluster netip.Prefix
	Bits    int // subnet prefix length, e.g. 24
	keys    KeyLister
	rnd     *lockedRand
}

// NewSubnets checks a cluster CIDR and subnet size.
func NewSubnets(cluster netip.Prefix, bits int, keys KeyLister, seed uint64) (*Subnets, error) {
	cluster = cluster.Masked()
	if bits <= cluster.Bits() || bits > cluster.Addr().BitLen() || bits-cluster.Bits() > 30 {
		return nil, fmt.Errorf("cannot cut /%d subnets from %s", bits, cluster)
	}
	return &Subnets{Cluster: cluster, Bits: bits, keys: keys, rnd: newLockedRand(seed, 11)}, nil
}

func (s *Subnets) count() uint64 { return uint64(1) << (s.Bits - s.Cluster.Bits()) }

// At is subnet number i.
func (s *Subnets) At(i uint64) netip.Prefix {
	shift := s.Cluster.Addr().BitLen() - s.Bits
	b := s.Cluster.Addr().As16()
	// add i << shift to the 128-bit address
	carry := uint64(0)
	v := i
	for byteIdx := 15; byteIdx >= 0; byteIdx-- {
		bitPos := (15 - byteIdx) * 8
		var add uint64
		if bitPos+8 > shift && v != 0 {
			// portion of (i << shift) that lands in this byte
			if bitPos >= shift {
				add = (v >> (bitPos - shift)) & 0xff
			} else {
				add = (v << (shift - bitPos)) & 0xff
			}
		}
		sum := uint64(b[byteIdx]) + add + carry
		b[byteIdx] = byte(sum)
		carry = sum >> 8
	}
	a := netip.AddrFrom16(b)
	if s.Cluster.Addr().Is4() {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, s.Bits)
}

// Pick chooses a free-looking subnet, like Allocator.Pick: the lowest free
// one, so small clusters get 10.244.0.0/24, 10.244.1.0/24, ...
func (s *Subnets) Pick(ctx context.Context, attempt int) (netip.Prefix, error) {
	keys, err := s.keys.ListKeys(ctx, PodCIDRPrefix)
	if err != nil {
		return netip.Prefix{}, err
	}
	held := map[string]bool{}
	for _, k := range keys {
		held[k] = true
	}
	n := s.count()
	start := uint64(0)
	if attempt > 0 {
		start = s.rnd.Uint64N(n)
	}
	for i := uint64(0); i < n && i < uint64(len(held))+1024; i++ {
		p := s.At((start + i) % n)
		if !held[SubnetKey(p)] {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("failed to allocate a pod CIDR: %w", ErrFull)
}
