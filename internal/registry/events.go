package registry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// eventResource is events: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func eventResource(ttl time.Duration) *Resource {
	return &Resource{
		GVR: gvr("", "v1", "events"), Kind: "Event", ListKind: "EventList", Singular: "event", Namespaced: true,
		ShortNames: []string{"ev"}, AllowCreateOnUpdate: true, TTL: ttl,
		New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
		Validate: func(obj runtime.Object) field.ErrorList {
			e := obj.(*corev1.Event)
			var errs field.ErrorList
			if e.InvolvedObject.Namespace != "" && e.InvolvedObject.Namespace != e.Namespace {
				errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
			return errs
		},
		Fields: func(obj runtime.Object) fields.Set {
			e := obj.(*corev1.Event)
			return fields.Set{
				"involvedObject.kind": e.InvolvedObject.Kind, "involvedObject.namespace": e.InvolvedObject.Namespace,
				"involvedObject.name": e.InvolvedObject.Name, "involvedObject.uid": string(e.InvolvedObject.UID),
				"involvedObject.apiVersion": e.InvolvedObject.APIVersion, "involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
				"involvedObject.fieldPath": e.InvolvedObject.FieldPath, "reason": e.Reason,
				"reportingComponent": e.ReportingController, "source": e.Source.Component, "type": e.Type,
			}
		},
		Table: eventTable,
	}
}
