package kube

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// parameterCodec converts query parameters to and from options types: the
// metav1 options (CreateOptions, UpdateOptions, PatchOptions, ListOptions,
// …) with the conversions apimachinery registers, and corev1.PodLogOptions,
// whose conversion Kubernetes keeps in its internal packages.
var parameterCodec = func() runtime.ParameterCodec {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, corev1.SchemeGroupVersion)
	s.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.PodLogOptions{})
	if err := s.AddConversionFunc((*url.Values)(nil), (*corev1.PodLogOptions)(nil), func(a, b any, _ conversion.Scope) error {
		return podLogOptionsFromQuery(*a.(*url.Values), b.(*corev1.PodLogOptions))
	}); err != nil {
		panic(err)
	}
	return runtime.NewParameterCodec(s)
}()

// DecodeQuery fills into (a *metav1.CreateOptions, *metav1.PatchOptions,
// *corev1.PodLogOptions, …) from a request's query, as kube-apiserver does;
// a value of the wrong type is an error.
func DecodeQuery(q url.Values, into runtime.Object) error {
	return parameterCodec.DecodeParameters(q, corev1.SchemeGroupVersion, into)
}

// EncodeQuery is the query that DecodeQuery reads back as obj.
func EncodeQuery(obj runtime.Object) (url.Values, error) {
	return parameterCodec.EncodeParameters(obj, corev1.SchemeGroupVersion)
}

func podLogOptionsFromQuery(q url.Values, o *corev1.PodLogOptions) error {
	*o = corev1.PodLogOptions{Container: q.Get("container")}
	for name, dst := range map[string]*bool{"follow": &o.Follow, "previous": &o.Previous, "timestamps": &o.Timestamps,
		"insecureSkipTLSVerifyBackend": &o.InsecureSkipTLSVerifyBackend} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not a boolean", name, v)
			}
			*dst = b
		}
	}
	for name, dst := range map[string]**int64{"sinceSeconds": &o.SinceSeconds, "tailLines": &o.TailLines, "limitBytes": &o.LimitBytes} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not an integer", name, v)
			}
			*dst = &n
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("sinceTime: %q is not an RFC 3339 time", v)
		}
		mt := metav1.NewTime(t)
		o.SinceTime = &mt
	}
	if v := q.Get("stream"); v != "" {
		o.Stream = &v
	}
	return nil
}

// ValidatePodLogOptions checks what kube-apiserver checks of a pods/log
// request, with its field errors.
func ValidatePodLogOptions(o *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *o.LimitBytes, "must be greater than 0"))
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	}
	if o.SinceSeconds != nil && *o.SinceSeconds < 1 {
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *o.SinceSeconds, "must be greater than 0"))
	}
	if o.Stream != nil && *o.Stream != corev1.LogStreamStdout && *o.Stream != corev1.LogStreamStderr && *o.Stream != corev1.LogStreamAll {
		errs = append(errs, field.NotSupported(field.NewPath("stream"), *o.Stream, []string{corev1.LogStreamStdout, corev1.LogStreamStderr, corev1.LogStreamAll}))
	}
	return errs
}
