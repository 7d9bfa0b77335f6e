// Package hello is `svcnet hello`, the server a pod runs when its image has
// no command: on each of its container ports, on the pod's IP, it answers
// HTTP (TCP ports) or echoes datagrams (UDP ports) with the pod's name and
// address, and logs each request, so Services, DNS and logs can be seen to
// work with unchanged manifests.
package hello

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// LameDuck is how long a stopping server keeps accepting requests.
const LameDuck = 500 * time.Millisecond

// Port is one port to serve.
type Port struct {
	Number int
	UDP    bool
}

// ParsePorts reads "3000/tcp,53/udp" (a bare number is TCP).
func ParsePorts(s string) ([]Port, error) {
	var out []Port
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		num, proto, _ := strings.Cut(f, "/")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q", f)
		}
		switch strings.ToLower(proto) {
		case "", "tcp", "sctp":
			out = append(out, Port{Number: n})
		case "udp":
			out = append(out, Port{Number: n, UDP: true})
		default:
			return nil, fmt.Errorf("bad protocol in %q", f)
		}
	}
	return out, nil
}

// Greeting is what a pod answers.
func Greeting(pod, ip string, port int) string {
	return fmt.Sprintf("hello from pod %s (%s:%d)\n", pod, ip, port)
}

// Run serves every port on ip until ctx ends; no port serves 80, as an
// nginx-like image would, or 8080 where port 80 is not allowed.
func Run(ctx context.Context, pod, ip string, ports []Port, logw io.Writer) error {
	if ip == "" {
		ip = "127.0.0.1"
	}
	guessed := len(ports) == 0
	if guessed {
		ports = []Port{{Number: 80}}
	}
	lg := log.New(logw, "", log.LstdFlags)
	errc := make(chan error, len(ports))
	for _, p := range ports {
		addr := net.JoinHostPort(ip, strconv.Itoa(p.Number))
		if p.UDP {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return err
			}
			go func() { <-ctx.Done(); pc.Close() }()
			go func(port int) {
				buf := make([]byte, 2048)
				for {
					_, from, err := pc.ReadFrom(buf)
					if err != nil {
						errc <- nil
						return
					}
					lg.Printf("udp %s", from)
					_, _ = pc.WriteTo([]byte(Greeting(pod, ip, port)), from)
				}
			}(p.Number)
			lg.Printf("hello: pod %s serving udp %s", pod, addr)
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil && guessed {
			addr = net.JoinHostPort(ip, "8080")
			p.Number = 8080
			ln, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return err
		}
		port := p.Number
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lg.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.Path)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, Greeting(pod, ip, port))
		})}
		go func() {
			// SIGTERM: keep serving a moment while the pod leaves the
			// endpoints (its proxies and DNS), then finish what is in
			// flight and stop.
			<-ctx.Done()
			time.Sleep(LameDuck)
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
		lg.Printf("hello: pod %s serving http://%s", pod, addr)
	}
	for range ports {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}
