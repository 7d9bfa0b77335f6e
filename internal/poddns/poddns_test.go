package poddns

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParse(t *testing.T) {
	rc := Parse("# generated\nnameserver 192.0.2.1\nnameserver 192.0.2.2 ; second\ndomain corp.example\noptions edns0 trust-ad\n")
	if strings.Join(rc.Nameservers, ",") != "192.0.2.1,192.0.2.2" || strings.Join(rc.Searches, ",") != "corp.example" || strings.Join(rc.Options, ",") != "edns0,trust-ad" {
		t.Fatalf("%+v", rc)
	}
	if rc := Parse("domain a.example\nsearch b.example c.example\n"); strings.Join(rc.Searches, ",") != "b.example,c.example" {
		t.Fatalf("search must win over domain: %+v", rc)
	}
}

func TestForPod(t *testing.T) {
	host := ResolvConf{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"edns0"}}
	cluster := Cluster{Servers: []string{"10.96.0.10"}, Domain: "cluster.local", Host: host}
	five, two := "5", "2"
	cases := []struct {
		name    string
		spec    corev1.PodSpec
		cluster Cluster
		want    string
	}{
		{"ClusterFirst by default", corev1.PodSpec{}, cluster,
			"nameserver 10.96.0.10\nsearch test.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"},
		{"ClusterFirst on the host network is Default", corev1.PodSpec{HostNetwork: true}, cluster,
			"nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
		{"ClusterFirstWithHostNet", corev1.PodSpec{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet}, cluster,
			"nameserver 10.96.0.10\nsearch test.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"},
		{"no cluster DNS known falls back to Default", corev1.PodSpec{}, Cluster{Domain: "cluster.local", Host: host},
			"nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
		{"Default", corev1.PodSpec{DNSPolicy: corev1.DNSDefault}, cluster, "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
		{"None takes dnsConfig alone", corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"192.0.2.9"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}}, cluster,
			"nameserver 192.0.2.9\nsearch a.example\noptions ndots:2\n"},
		{"dnsConfig merged: appended once, options by name", corev1.PodSpec{DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"10.96.0.10", "192.0.2.9"}, Searches: []string{"svc.cluster.local", "x.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}, {Name: "single-request-reopen"}}}}, cluster,
			"nameserver 10.96.0.10\nnameserver 192.0.2.9\nsearch test.svc.cluster.local svc.cluster.local cluster.local corp.example x.example\noptions ndots:5 single-request-reopen\n"},
		{"at most three servers", corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}}}, cluster,
			"nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "test"}, Spec: tc.spec}
			if got := ForPod(pod, tc.cluster).String(); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestSearchLimits(t *testing.T) {
	var many []string
	for i := range 40 {
		many = append(many, strings.Repeat("x", 60)+string(rune('a'+i%26))+string(rune('a'+i/26))+".example")
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n"}, Spec: corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{Searches: many}}}
	got := ForPod(pod, Cluster{}).Searches
	chars := 0
	for _, s := range got {
		chars += len(s) + 1
	}
	if len(got) > MaxSearches || chars > MaxSearchChars+1 || len(got) == 0 || got[0] != many[0] {
		t.Fatalf("%d searches, %d characters", len(got), chars)
	}
}

func TestHostsAndHostname(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default"},
		Spec: corev1.PodSpec{Hostname: "web-0", Subdomain: "nginx", HostAliases: []corev1.HostAlias{{IP: "192.0.2.7", Hostnames: []string{"foo.local", "bar.local"}}}}}
	hosts := Hosts(pod, []string{"10.244.0.5"}, "cluster.local")
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.244.0.5\tweb-0.nginx.default.svc.cluster.local\tweb-0\n", "192.0.2.7\tfoo.local\tbar.local\n"} {
		if !strings.Contains(hosts, want) {
			t.Fatalf("hosts lacks %q:\n%s", want, hosts)
		}
	}
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-7d9c-xk2lp", Namespace: "default"}}
	if h := Hosts(plain, []string{"10.244.0.6"}, "cluster.local"); !strings.Contains(h, "10.244.0.6\tapi-7d9c-xk2lp\n") {
		t.Fatalf("hosts:\n%s", h)
	}
	long := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 62) + "-bcd"}}
	if h := Hostname(long); h != strings.Repeat("a", 62) {
		t.Fatalf("hostname %q", h)
	}
}
