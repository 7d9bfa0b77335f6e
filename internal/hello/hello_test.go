package hello

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in   string
		want []Port
		bad  bool
	}{
		{"", nil, false},
		{"3000", []Port{{Number: 3000}}, false},
		{"3000/tcp, 53/UDP", []Port{{Number: 3000}, {Number: 53, UDP: true}}, false},
		{"0", nil, true},
		{"70000/tcp", nil, true},
		{"80/icmp", nil, true},
		{"x/tcp", nil, true},
	}
	for _, tc := range tests {
		got, err := ParsePorts(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && len(got) != len(tc.want)) {
			t.Errorf("%q: %v, %v", tc.in, got, err)
			continue
		}
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%q: %v", tc.in, got)
			}
		}
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Each port greets with the pod's name; SIGTERM (ctx) stops it after the
// lame-duck period.
func TestRunGreetsOnEveryPort(t *testing.T) {
	tcp, udp := freePort(t, "tcp"), freePort(t, "udp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "web-0", "127.0.0.1", []Port{{Number: tcp}, {Number: udp, UDP: true}}, io.Discard)
	}()
	want := Greeting("web-0", "127.0.0.1", tcp)
	var body []byte
	testutil.Eventually(t, 5*time.Second, "the greeter to answer HTTP", func() error {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(tcp) + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if string(body) != want {
		t.Fatalf("HTTP: %q, want %q", body, want)
	}
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(udp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("hi"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != Greeting("web-0", "127.0.0.1", udp) {
		t.Fatalf("UDP: %q, %v", buf[:n], err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < LameDuck {
			t.Fatalf("stopped after %s, before the lame-duck period", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}
