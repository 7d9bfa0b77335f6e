// Package gatewayconformance runs the Gateway API's own conformance suite
// (sigs.k8s.io/gateway-api/conformance) against a running svcnet server:
// KUBECONFIG names it; run.sh starts one with the process runtime, applies
// the standard channel and runs this. It is a module of its own, so the
// suite's dependencies (controller-runtime) stay out of svcnet's.
package gatewayconformance

import (
	"os"
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/features"
)

func TestGatewayAPIConformance(t *testing.T) {
	opts := conformance.DefaultOptions(t)
	opts.GatewayClassName = "svcnet"
	opts.ConformanceProfiles = []suite.ConformanceProfileName{suite.GatewayHTTPConformanceProfileName}
	// Core, and the extended HTTPRoute features the GatewayClass reports.
	opts.SupportedFeatures = []features.FeatureName{features.SupportGateway, features.SupportHTTPRoute, features.SupportReferenceGrant,
		features.SupportHTTPRouteHostRewrite, features.SupportHTTPRoutePathRewrite, features.SupportHTTPRoutePathRedirect,
		features.SupportHTTPRoutePortRedirect, features.SupportHTTPRouteSchemeRedirect, features.SupportHTTPRouteMethodMatching,
		features.SupportHTTPRouteQueryParamMatching, features.SupportHTTPRouteResponseHeaderModification}
	opts.Implementation = confv1.Implementation{
		Organization: "svcnet", Project: "svcnet", URL: "https://github.com/svcnet/svcnet", Version: "main",
		Contact: []string{"@svcnet/maintainers"},
	}
	opts.Mode = "default"
	opts.CleanupBaseResources = false
	if out := os.Getenv("REPORT"); out != "" {
		opts.ReportOutputPath = out
	}
	conformance.RunConformanceWithOptions(t, opts)
}
