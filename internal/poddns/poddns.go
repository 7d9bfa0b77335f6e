// Package poddns writes what a pod resolves names with, as the kubelet
// writes it: /etc/resolv.conf by the pod's dnsPolicy and dnsConfig,
// /etc/hosts with the pod's own names and hostAliases, and its hostname.
// It also reads resolv.conf files (the host's search path and servers).
package poddns

import (
	"bufio"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Limits the kubelet applies (pkg/apis/core/validation and kubelet/network/dns).
const (
	MaxNameservers = 3
	MaxSearches    = 32
	MaxSearchChars = 2048
)

// ResolvConf is the content of a resolv.conf.
type ResolvConf struct {
	Nameservers []string
	Searches    []string
	Options     []string
}

// Parse reads a resolv.conf: nameserver, search (domain when there is no
// search line) and options; comments and other lines are skipped.
func Parse(text string) ResolvConf {
	var rc ResolvConf
	var domain []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.Nameservers = append(rc.Nameservers, f[1])
		case "search":
			rc.Searches = f[1:] // the last search line wins
		case "domain":
			domain = f[1:2]
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	if rc.Searches == nil {
		rc.Searches = domain
	}
	return rc
}

// String is the file, in the kubelet's layout.
func (rc ResolvConf) String() string {
	var b strings.Builder
	for _, ns := range rc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.Searches, " "))
	}
	if len(rc.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.Options, " "))
	}
	return b.String()
}

// Cluster is what a node knows of the cluster's DNS.
type Cluster struct {
	// Servers are the cluster DNS's addresses (kube-dns's ClusterIP);
	// none makes ClusterFirst behave as Default, as the kubelet does.
	Servers []string
	// Domain is the cluster's zone (cluster.local).
	Domain string
	// Host is the node's own resolv.conf.
	Host ResolvConf
}

// ForPod is pod's resolv.conf by its dnsPolicy, with its dnsConfig merged
// in as the kubelet merges it (servers and searches appended without
// duplicates, options by name with the pod's winning), and the kubelet's
// limits applied.
func ForPod(pod *corev1.Pod, c Cluster) ResolvConf {
	var rc ResolvConf
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault // ClusterFirst on the host's network is Default
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(c.Servers) == 0 {
		policy = corev1.DNSDefault // no cluster DNS known: the kubelet falls back too
	}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		zone := strings.TrimSuffix(c.Domain, ".")
		rc.Nameservers = slices.Clone(c.Servers)
		rc.Searches = append([]string{pod.Namespace + ".svc." + zone, "svc." + zone, zone}, c.Host.Searches...)
		rc.Options = []string{"ndots:5"}
	case corev1.DNSDefault:
		rc = ResolvConf{Nameservers: slices.Clone(c.Host.Nameservers), Searches: slices.Clone(c.Host.Searches), Options: slices.Clone(c.Host.Options)}
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		rc.Nameservers = appendNew(rc.Nameservers, dc.Nameservers...)
		rc.Searches = appendNew(rc.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			rc.Options = slices.DeleteFunc(rc.Options, func(x string) bool { return optionName(x) == o.Name })
			rc.Options = append(rc.Options, opt)
		}
	}
	if len(rc.Nameservers) > MaxNameservers {
		rc.Nameservers = rc.Nameservers[:MaxNameservers]
	}
	rc.Searches = limitSearches(rc.Searches)
	return rc
}

func optionName(o string) string {
	name, _, _ := strings.Cut(o, ":")
	return name
}

// appendNew appends what list lacks, in order, once.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if a != "" && !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// limitSearches keeps the first MaxSearches domains that fit in
// MaxSearchChars, as the kubelet truncates them.
func limitSearches(s []string) []string {
	s = appendNew(nil, s...)
	n := 0
	for i, d := range s {
		if i == MaxSearches || n+len(d) > MaxSearchChars {
			return s[:i]
		}
		n += len(d) + 1
	}
	return s
}

// Hostname is the pod's host name: spec.hostname, else its name, at most
// 63 characters and without a trailing dash or dot, as the kubelet cuts it.
func Hostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// Hosts is the pod's /etc/hosts as the kubelet writes it: localhost, the
// IPv6 names, each pod IP with the pod's names (its FQDN first when it has
// a subdomain), then hostAliases.
func Hosts(pod *corev1.Pod, ips []string, domain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := Hostname(pod)
	names := host
	if pod.Spec.Subdomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", host, pod.Spec.Subdomain, pod.Namespace, strings.TrimSuffix(domain, "."), host)
	}
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.String()
}
