package kube

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// Protobuf makes a client configuration speak protobuf to the API, as
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy do by
// default (--kube-api-content-type): client-go alone would use JSON,
// which costs both sides several times the CPU of every request, response
// and watch event. Types without protobuf (custom resources) still get
// JSON, which the Accept header allows.
func Protobuf(cfg *rest.Config) *rest.Config {
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return cfg
}
