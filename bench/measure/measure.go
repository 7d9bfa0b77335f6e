// Package measure holds what the benchmarks measure with: a process's
// resident memory, latency percentiles, and free loopback ports.
package measure

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// RSSMB is the resident set size of a process in MB (0 if unknown).
func RSSMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// PercentileMs is the q-quantile (0..1) of durations in milliseconds.
func PercentileMs(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}

// FreePort returns a free 127.0.0.1 address.
func FreePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

// Peak samples a process's RSS every 5 ms until Stop.
type Peak struct {
	stop chan struct{}
	done chan float64
}

// NewPeak starts sampling pid.
func NewPeak(pid int) *Peak {
	p := &Peak{stop: make(chan struct{}), done: make(chan float64, 1)}
	go func() {
		peak := 0.0
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, RSSMB(pid))
			select {
			case <-p.stop:
				p.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop ends sampling and returns the peak RSS in MB.
func (p *Peak) Stop() float64 {
	close(p.stop)
	return <-p.done
}

// Build compiles the given packages (./cmd/svcnet, …) into dir.
func Build(dir string, pkgs ...string) error {
	if b, err := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, b)
	}
	return nil
}

// Server is a running `svcnet server`.
type Server struct {
	Cmd        *exec.Cmd
	Kubeconfig string
}

// StartServer runs `bin server args...` and returns once it printed where
// its kubeconfig is (its output is then discarded).
// ServerEnv is added to the environment of the servers StartServer runs
// (e.g. GOMEMLIMIT for the server alone).
var ServerEnv []string

func StartServer(bin string, args ...string) (*Server, error) {
	cmd := exec.Command(bin, append([]string{"server"}, args...)...)
	cmd.Env = append(os.Environ(), ServerEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "kubeconfig: "); ok {
				select {
				case found <- k:
				default:
				}
			}
		}
	}()
	select {
	case k := <-found:
		return &Server{Cmd: cmd, Kubeconfig: k}, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("svcnet server did not start")
	}
}

// Stop interrupts the server and waits for it.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(os.Interrupt)
	_ = s.Cmd.Wait()
}

// Client is a clientset for a kubeconfig, allowed qps requests a second.
func Client(kubeconfig string, qps float32) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = qps, int(2*qps)
	return kubernetes.NewForConfig(cfg)
}
