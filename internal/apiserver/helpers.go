package apiserver

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldErrorList is one Invalid cause at a dotted path.
func fieldErrorList(path, msg string) field.ErrorList {
	parts := strings.Split(path, ".")
	p := field.NewPath(parts[0], parts[1:]...)
	return field.ErrorList{field.Invalid(p, nil, msg)}
}
