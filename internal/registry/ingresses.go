package registry

import (
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// IngressClass is svcnet's IngressClass, made at bootstrap and marked the
// cluster's default; IngressController is the controller it names.
const (
	IngressClass      = "svcnet"
	IngressController = "svcnet.io/ingress-controller"
	// DefaultIngressClassAnnotation marks the default class (Kubernetes').
	DefaultIngressClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

// SvcnetIngressClass is the default IngressClass.
func SvcnetIngressClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: IngressClass, Annotations: map[string]string{DefaultIngressClassAnnotation: "true"}},
		Spec:       networkingv1.IngressClassSpec{Controller: IngressController},
	}
}

func ingressClassResource() *Resource {
	return &Resource{
		GVR: gvr("networking.k8s.io", "v1", "ingressclasses"), Kind: "IngressClass", ListKind: "IngressClassList", Singular: "ingressclass",
		New: func() runtime.Object { return &networkingv1.IngressClass{} }, NewList: func() runtime.Object { return &networkingv1.IngressClassList{} },
		Validate: func(obj runtime.Object) field.ErrorList {
			c := obj.(*networkingv1.IngressClass)
			p := field.NewPath("spec", "controller")
			if c.Spec.Controller == "" {
				return field.ErrorList{field.Required(p, "")}
			}
			if errs := validation.IsDomainPrefixedPath(p, c.Spec.Controller); len(errs) > 0 {
				return errs
			}
			return nil
		},
		Table: ingressClassTable,
	}
}

func ingressResource() *Resource {
	return &Resource{
		GVR: gvr("networking.k8s.io", "v1", "ingresses"), Kind: "Ingress", ListKind: "IngressList", Singular: "ingress", Namespaced: true,
		ShortNames: []string{"ing"}, Subresources: []string{"status"},
		New: func() runtime.Object { return &networkingv1.Ingress{} }, NewList: func() runtime.Object { return &networkingv1.IngressList{} },
		PrepareForCreate: func(obj runtime.Object) {
			ing := obj.(*networkingv1.Ingress)
			ing.Status = networkingv1.IngressStatus{}
			// The DefaultIngressClass admission: a new Ingress without a
			// class (nor the old annotation) gets the default one.
			if ing.Spec.IngressClassName == nil && ing.Annotations["kubernetes.io/ingress.class"] == "" {
				c := IngressClass
				ing.Spec.IngressClassName = &c
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateIngressSpec(&obj.(*networkingv1.Ingress).Spec, field.NewPath("spec"))
		},
		Table: ingressTable,
	}
}

// ValidateIngressSpec checks what Kubernetes checks of rules and backends:
// a backend somewhere, hosts (a leading "*." wildcard allowed), paths
// starting with "/" and their types, each backend a Service by name with a
// port number or name, or a resource.
func ValidateIngressSpec(s *networkingv1.IngressSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.DefaultBackend == nil && len(s.Rules) == 0 {
		errs = append(errs, field.Invalid(p, s.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if s.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(s.DefaultBackend, p.Child("defaultBackend"))...)
	}
	for i, r := range s.Rules {
		rp := p.Child("rules").Index(i)
		if r.Host != "" {
			host := strings.TrimPrefix(r.Host, "*.")
			for _, msg := range validation.IsDNS1123Subdomain(host) {
				errs = append(errs, field.Invalid(rp.Child("host"), r.Host, msg))
			}
			if strings.Contains(host, "*") {
				errs = append(errs, field.Invalid(rp.Child("host"), r.Host, "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain"))
			}
		}
		if r.HTTP == nil {
			continue
		}
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(rp.Child("http", "paths"), ""))
		}
		for j, path := range r.HTTP.Paths {
			pp := rp.Child("http", "paths").Index(j)
			switch {
			case path.PathType == nil:
				errs = append(errs, field.Required(pp.Child("pathType"), "pathType must be specified"))
			case *path.PathType != networkingv1.PathTypeExact && *path.PathType != networkingv1.PathTypePrefix && *path.PathType != networkingv1.PathTypeImplementationSpecific:
				errs = append(errs, field.NotSupported(pp.Child("pathType"), *path.PathType, []string{"Exact", "ImplementationSpecific", "Prefix"}))
			}
			if !strings.HasPrefix(path.Path, "/") {
				errs = append(errs, field.Invalid(pp.Child("path"), path.Path, "must be an absolute path"))
			}
			errs = append(errs, validateIngressBackend(&path.Backend, pp.Child("backend"))...)
		}
	}
	return errs
}

func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Service != nil && b.Resource != nil:
		errs = append(errs, field.Invalid(p, "resource", "cannot set both resource and service backends"))
	case b.Service == nil && b.Resource == nil:
		errs = append(errs, field.Invalid(p, b, "resource or service backend is required"))
	case b.Service != nil:
		for _, msg := range validation.IsDNS1035Label(b.Service.Name) {
			errs = append(errs, field.Invalid(p.Child("service", "name"), b.Service.Name, msg))
		}
		port := b.Service.Port
		if (port.Name == "") == (port.Number == 0) {
			errs = append(errs, field.Required(p.Child("service", "port"), "a port name or number is required"))
		}
		if port.Number != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.Number)) {
				errs = append(errs, field.Invalid(p.Child("service", "port", "number"), port.Number, msg))
			}
		}
	}
	return errs
}

var ingressClassTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Controller", "string", "Controller that is responsible for handling this class", 0),
		col("Parameters", "string", "A reference to a resource with additional parameters", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		c := obj.(*networkingv1.IngressClass)
		params := "<none>"
		if c.Spec.Parameters != nil {
			params = c.Spec.Parameters.Kind + "/" + c.Spec.Parameters.Name
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, c.Spec.Controller, params, age}
	},
}

var ingressTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Class", "string", "The name of the IngressClass resource that should be used", 0),
		col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule", 0),
		col("Address", "string", "Address is a list containing ingress points for the load-balancer", 0),
		col("Ports", "string", "Ports of TLS configurations that open", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		ing := obj.(*networkingv1.Ingress)
		class := "<none>"
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		var hosts []string
		for _, r := range ing.Spec.Rules {
			if r.Host != "" {
				hosts = append(hosts, r.Host)
			}
		}
		h := "*"
		if len(hosts) > 0 {
			h = strings.Join(hosts, ",")
		}
		var addrs []string
		for _, in := range ing.Status.LoadBalancer.Ingress {
			addrs = append(addrs, in.IP+in.Hostname)
		}
		ports := "80"
		if len(ing.Spec.TLS) > 0 {
			ports = "80, 443"
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, class, h, strings.Join(addrs, ","), ports, age}
	},
}
