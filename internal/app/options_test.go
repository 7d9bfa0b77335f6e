package app

import (
	"strings"
	"testing"
	"time"
)

func TestServerOptionsValidate(t *testing.T) {
	cases := []struct {
		name              string
		change            func(*ServerOptions)
		wantErr           []string // every one must be in the error
		wantSvc, wantPods string
	}{
		{name: "defaults", change: func(*ServerOptions) {}, wantSvc: "10.96.0.0/12", wantPods: "10.244.0.0/16"},
		{name: "process runtime takes loopback ranges", change: func(o *ServerOptions) { o.Node.Runtime = "process" },
			wantSvc: "127.96.0.0/16", wantPods: "127.244.0.0/16"},
		{name: "process runtime with local ranges keeps the usual ones", change: func(o *ServerOptions) { o.Node.Runtime, o.LocalRanges = "process", true },
			wantSvc: "10.96.0.0/12", wantPods: "10.244.0.0/16"},
		{name: "a range given wins", change: func(o *ServerOptions) { o.Node.Runtime, o.ServiceCIDR = "process", "10.0.0.0/16" },
			wantSvc: "10.0.0.0/16", wantPods: "127.244.0.0/16"},
		{name: "every problem at once", change: func(o *ServerOptions) {
			o.ServiceCIDR, o.Node.Runtime, o.Node.Proxy, o.LogLevel, o.APIAddr, o.DNS.TTL = "nope", "docker", "maybe", "loud", "6443", 9000
		}, wantErr: []string{"--service-cidr", "--runtime must be sim or process", "--proxy must be", "--log-level", "--api-addr", "ttl 9000"}},
		{name: "no DNS needs no valid DNS options", change: func(o *ServerOptions) { o.DNS.Addr, o.DNS.Pods = "", "bogus" },
			wantSvc: "10.96.0.0/12", wantPods: "10.244.0.0/16"},
		{name: "slices", change: func(o *ServerOptions) { o.MaxEndpointsPerSlice = 0 }, wantErr: []string{"--max-endpoints-per-slice"}},
		{name: "nodeport addresses", change: func(o *ServerOptions) { o.Node.NodePortAddresses = "127.0.0.1,nope" }, wantErr: []string{`--nodeport-addresses: "nope"`}},
		{name: "request limits", change: func(o *ServerOptions) { o.Limits.RequestTimeout, o.Limits.MaxRequestsInflight = 0, -1 },
			wantErr: []string{"--request-timeout 0s", "--max-requests-inflight"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultServerOptions()
			tc.change(&o)
			err := o.Validate()
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.ServiceCIDR != tc.wantSvc || o.ClusterCIDR != tc.wantPods {
				t.Fatalf("ranges %s, %s; want %s, %s", o.ServiceCIDR, o.ClusterCIDR, tc.wantSvc, tc.wantPods)
			}
		})
	}
}

// Kubernetes' defaults: a user who knows kube-apiserver's flags finds
// the same limits.
func TestServerDefaultLimits(t *testing.T) {
	l := DefaultServerOptions().Limits
	if l.RequestTimeout != time.Minute || l.MaxRequestsInflight != 400 || l.MaxMutatingRequestsInflight != 200 || l.IdleTimeout > 120*time.Second {
		t.Fatalf("limits %+v", l)
	}
	if DefaultServerOptions().Profiling {
		t.Fatal("profiling is on by default")
	}
}

func TestAgentOptionsValidate(t *testing.T) {
	o := DefaultAgentOptions()
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--node-name is required") || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("defaults alone: %v", err)
	}
	o.NodeName, o.Kubeconfig = "n2", "/dev/null"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.InternalIP = "localhost"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--internal-ip") {
		t.Fatalf("a host name as --internal-ip: %v", err)
	}
	o.InternalIP = "127.0.0.1"
	for _, tc := range []struct {
		nodes            int
		runtime, proxy   string
		wantErrSubstring string
	}{
		{500, "sim", "auto", ""},
		{0, "sim", "auto", "--nodes 0"},
		{2, "process", "auto", "--nodes above 1"},
		{2, "sim", "on", "--nodes above 1"},
	} {
		o.Nodes, o.Node.Runtime, o.Node.Proxy = tc.nodes, tc.runtime, tc.proxy
		err := o.Validate()
		if tc.wantErrSubstring == "" && err != nil || tc.wantErrSubstring != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring)) {
			t.Errorf("--nodes %d --runtime %s --proxy %s: %v, want %q", tc.nodes, tc.runtime, tc.proxy, err, tc.wantErrSubstring)
		}
	}
}
