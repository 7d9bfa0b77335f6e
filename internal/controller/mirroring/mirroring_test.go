package mirroring

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDesired(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", UID: "u"}}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"}, Subsets: []corev1.EndpointSubset{{
		Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.1", Hostname: "primary"}, {IP: "2001:db8::1"}},
		NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.2"}},
		Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
	}}}
	slices := Desired(svc, ep)
	if len(slices) != 2 {
		t.Fatalf("want one slice per family, got %d", len(slices))
	}
	v4 := slices[0]
	if v4.AddressType != discoveryv1.AddressTypeIPv4 || len(v4.Endpoints) != 2 || *v4.Ports[0].Port != 5432 {
		t.Fatalf("v4 slice: %+v", v4)
	}
	if !*v4.Endpoints[0].Conditions.Ready || *v4.Endpoints[1].Conditions.Ready || *v4.Endpoints[0].Hostname != "primary" {
		t.Fatalf("conditions/hostname: %+v", v4.Endpoints)
	}
	if v4.Labels[discoveryv1.LabelServiceName] != "db" || v4.Labels[discoveryv1.LabelManagedBy] != ControllerName || v4.OwnerReferences[0].UID != "u" {
		t.Fatalf("labels/owner: %+v", v4.ObjectMeta)
	}
	if slices[1].AddressType != discoveryv1.AddressTypeIPv6 {
		t.Fatalf("second slice %s", slices[1].AddressType)
	}
}
