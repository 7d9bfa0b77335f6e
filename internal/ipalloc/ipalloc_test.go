package ipalloc

import (
	"context"
	"net/netip"
	"testing"
)

type fakeKeys []string

func (f fakeKeys) ListKeys(_ context.Context, prefix string) ([]string, error) { return f, nil }

func TestRange(t *testing.T) {
	cases := []struct {
		name, cidr string
		at         uint64
		want       string
		contains   map[string]bool
	}{
		{"ipv4 /12", "10.96.0.0/12", 1, "10.96.0.1", map[string]bool{"10.96.0.0": false, "10.96.0.1": true, "10.111.255.254": true, "10.111.255.255": false, "10.112.0.1": false}},
		{"ipv4 carry", "10.96.0.0/12", 256, "10.96.1.0", nil},
		{"ipv6 /108", "fd00:10:96::/108", 10, "fd00:10:96::a", map[string]bool{"fd00:10:96::": false, "fd00:10:96::1": true, "fd00:10:97::1": false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRange(netip.MustParsePrefix(tc.cidr))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.At(tc.at).String(); got != tc.want {
				t.Fatalf("At(%d) = %s, want %s", tc.at, got, tc.want)
			}
			for ip, want := range tc.contains {
				if got := r.Contains(netip.MustParseAddr(ip)); got != want {
					t.Errorf("Contains(%s) = %v, want %v", ip, got, want)
				}
			}
		})
	}
}

func TestPickAvoidsHeldWhenNearlyFull(t *testing.T) {
	// A /29 has 6 usable addresses; hold 5 and the scan must find the last.
	var held fakeKeys
	for i := 1; i <= 6; i++ {
		if i == 4 {
			continue
		}
		held = append(held, Key(netip.AddrFrom4([4]byte{192, 168, 0, byte(i)})))
	}
	a, err := New([]netip.Prefix{netip.MustParsePrefix("192.168.0.0/29")}, held, 1)
	if err != nil {
		t.Fatal(err)
	}
	a.ranges[0].static = 0
	ip, err := a.Pick(context.Background(), "IPv4", 3)
	if err != nil || ip.String() != "192.168.0.4" {
		t.Fatalf("Pick = %v %v, want 192.168.0.4", ip, err)
	}
	held = append(held, Key(netip.MustParseAddr("192.168.0.4")))
	a.keys = held
	if _, err := a.Pick(context.Background(), "IPv4", 3); err == nil {
		t.Fatal("a full range must fail")
	}
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name  string
		cidrs string
		ok    bool
	}{
		{"single", "10.96.0.0/12", true},
		{"dual", "10.96.0.0/12,fd00::/108", true},
		{"two v4", "10.96.0.0/12,10.200.0.0/16", false},
		{"tiny", "10.0.0.0/32", false},
		{"garbage", "ten", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseCIDRs(tc.cidrs)
			if err == nil {
				_, err = New(p, fakeKeys{}, 1)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestPortRange(t *testing.T) {
	if _, err := NewPortRange("100-50", fakeKeys{}, 1); err == nil {
		t.Fatal("inverted range accepted")
	}
	held := fakeKeys{PortKey("TCP", 30000), PortKey("TCP", 30001)}
	p, err := NewPortRange("30000-30002", held, 1)
	if err != nil {
		t.Fatal(err)
	}
	if port, err := p.Pick(context.Background(), "TCP", 5); err != nil || port != 30002 {
		t.Fatalf("Pick = %d %v", port, err)
	}
}

func TestSubnets(t *testing.T) {
	s, err := NewSubnets(netip.MustParsePrefix("10.244.0.0/16"), 24, fakeKeys{SubnetKey(netip.MustParsePrefix("10.244.0.0/24"))}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.At(3).String(); got != "10.244.3.0/24" {
		t.Fatalf("At(3) = %s", got)
	}
	if got := s.At(255).String(); got != "10.244.255.0/24" {
		t.Fatalf("At(255) = %s", got)
	}
	if p, err := s.Pick(context.Background(), 0); err != nil || p.String() != "10.244.1.0/24" {
		t.Fatalf("Pick = %v %v", p, err)
	}
	v6, err := NewSubnets(netip.MustParsePrefix("fd00:10:244::/56"), 64, fakeKeys{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := v6.At(2).String(); got != "fd00:10:244:2::/64" {
		t.Fatalf("v6 At(2) = %s", got)
	}
	if _, err := NewSubnets(netip.MustParsePrefix("10.0.0.0/24"), 16, fakeKeys{}, 1); err == nil {
		t.Fatal("bigger subnet than cluster accepted")
	}
}

// TestPickConcurrently: the API server's handlers share one allocator of
// each kind; under -race this fails if they share an unlocked generator.
func TestPickConcurrently(t *testing.T) {
	ips, err := New([]netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}, fakeKeys(nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := NewPortRange("30000-32767", fakeKeys(nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	subnets, err := NewSubnets(netip.MustParsePrefix("10.244.0.0/16"), 24, fakeKeys(nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make(chan error, 8*3*50)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				ip, err := ips.Pick(ctx, "IPv4", 0)
				if err == nil && !netip.MustParsePrefix("10.96.0.0/12").Contains(ip) {
					t.Errorf("picked %s outside the range", ip)
				}
				errs <- err
				port, err := ports.Pick(ctx, "TCP", 0)
				if err == nil && !ports.Contains(port) {
					t.Errorf("picked port %d outside the range", port)
				}
				errs <- err
				_, err = subnets.Pick(ctx, 0)
				errs <- err
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
