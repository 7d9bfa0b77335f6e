// Package version is the Kubernetes version svcnet speaks, in one place:
// what /version reports (the kubectl dispatcher picks its kubectl by it),
// OpenAPI's info, the kubelet version of svcnet's nodes and the probes'
// User-Agent.
package version

const (
	// Major and Minor are the Kubernetes minor release svcnet serves.
	Major = "1"
	Minor = "33"
	// Kubernetes is that release's version string.
	Kubernetes = "v" + Major + "." + Minor + ".0"
	// Svcnet is the git version svcnet reports for its API and nodes.
	Svcnet = Kubernetes + "-svcnet"
	// ProbeUserAgent is the User-Agent of HTTP probes, as the kubelet's.
	ProbeUserAgent = "kube-probe/" + Major + "." + Minor
)
