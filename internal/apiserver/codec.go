package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/svcnet/svcnet/internal/registry"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	mediaTable    = "application/json;as=Table;v=v1;g=meta.k8s.io"
	// maxBody is the largest request body accepted, as in Kubernetes.
	maxBody = 3 << 20
)

// format is the representation a response is written in.
type format int

const (
	fmtJSON format = iota
	fmtYAML
	fmtProtobuf
	fmtTable
	fmtMetadata // PartialObjectMetadata(List)
	// fmtMetadataProtobuf: PartialObjectMetadata(List) in protobuf (the
	// metadata client's first choice).
	fmtMetadataProtobuf
)

// isMetadata reports whether f is a PartialObjectMetadata format.
func isMetadata(f format) bool { return f == fmtMetadata || f == fmtMetadataProtobuf }

// metadataWire is the encoding of a PartialObjectMetadata format.
func metadataWire(f format) format {
	if f == fmtMetadataProtobuf {
		return fmtProtobuf
	}
	return fmtJSON
}

// codecs holds the serializers the server speaks.
type codecs struct {
	json, jsonStrict, yaml, yamlStrict, proto, protoRaw runtime.Serializer
}

func newCodecs() *codecs {
	s := scheme.Scheme
	mf := kjson.DefaultMetaFactory
	return &codecs{
		json:       kjson.NewSerializerWithOptions(mf, s, s, kjson.SerializerOptions{}),
		jsonStrict: kjson.NewSerializerWithOptions(mf, s, s, kjson.SerializerOptions{Strict: true}),
		yaml:       kjson.NewSerializerWithOptions(mf, s, s, kjson.SerializerOptions{Yaml: true}),
		yamlStrict: kjson.NewSerializerWithOptions(mf, s, s, kjson.SerializerOptions{Yaml: true, Strict: true}),
		proto:      protobuf.NewSerializer(s, s),
		protoRaw:   protobuf.NewRawSerializer(s, s),
	}
}

// negotiate picks the response format from the Accept header, in the
// client's order. ok is false when nothing acceptable is offered.
func negotiate(accept string) (format, bool) { return negotiateWithout(accept, "") }

// negotiateWithout is negotiate with media type skip left out.
func negotiateWithout(accept, skip string) (format, bool) {
	if strings.TrimSpace(accept) == "" {
		return fmtJSON, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || (mt == skip && params["as"] == "") {
			continue
		}
		switch params["as"] {
		case "Table":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return fmtTable, true
			}
			continue
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				switch mt {
				case mediaJSON:
					return fmtMetadata, true
				case mediaProtobuf:
					return fmtMetadataProtobuf, true
				}
			}
			continue
		case "":
		default:
			continue
		}
		switch mt {
		case mediaJSON, "application/*", "*/*":
			return fmtJSON, true
		case mediaYAML:
			return fmtYAML, true
		case mediaProtobuf:
			return fmtProtobuf, true
		}
	}
	return fmtJSON, false
}

func (c *codecs) serializer(f format) (runtime.Serializer, string) {
	switch f {
	case fmtYAML:
		return c.yaml, mediaYAML
	case fmtProtobuf:
		return c.proto, mediaProtobuf
	}
	return c.json, mediaJSON
}

// writeObject writes obj with the negotiated format.
func (c *codecs) writeObject(w http.ResponseWriter, f format, code int, obj runtime.Object) {
	var buf bytes.Buffer
	ct := mediaJSON
	switch f {
	case fmtTable:
		ct = mediaTable
		if err := json.NewEncoder(&buf).Encode(obj); err != nil {
			c.writeError(w, apierrors.NewInternalError(err))
			return
		}
	default:
		var s runtime.Serializer
		s, ct = c.serializer(f)
		if err := s.Encode(obj, &buf); err != nil {
			c.writeError(w, apierrors.NewInternalError(err))
			return
		}
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// writeError writes err as a Kubernetes Status in JSON.
func (c *codecs) writeError(w http.ResponseWriter, err error) {
	st := apierrors.APIStatus(nil)
	if se, ok := err.(apierrors.APIStatus); ok {
		st = se
	} else if isTimeout(err) {
		st = errRequestTimeout().(apierrors.APIStatus)
	} else {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	code := int(status.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	b, _ := json.Marshal(&status)
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// readBody reads a request body up to maxBody.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if isTimeout(err) {
		return nil, errRequestTimeout()
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	if len(data) > maxBody {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBody))
	}
	return data, nil
}

// fieldValidation is the fieldValidation query parameter.
type fieldValidation string

const (
	validateStrict fieldValidation = "Strict"
	validateWarn   fieldValidation = "Warn"
	validateIgnore fieldValidation = "Ignore"
)

func parseFieldValidation(v string) (fieldValidation, error) {
	switch v {
	case "", "Warn":
		return validateWarn, nil
	case "Strict":
		return validateStrict, nil
	case "Ignore":
		return validateIgnore, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", not %q", v))
}

// decodeObject decodes a request body of media type ct into a new object of
// the resource's kind. Unknown and duplicate fields are returned as warnings
// (or an error under Strict).
func (c *codecs) decodeObject(ct string, data []byte, res *registry.Resource, fv fieldValidation) (runtime.Object, []string, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, err = mediaJSON, nil
	}
	if err != nil {
		return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", res.GroupResource(), "", fmt.Sprintf("invalid Content-Type %q", ct), 0, false)
	}
	var dec runtime.Decoder
	switch mt {
	case mediaJSON, "application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json":
		dec = c.jsonStrict
	case mediaYAML, "application/apply-patch+yaml", "application/apply-patch+cbor":
		dec = c.yamlStrict
	case mediaProtobuf:
		if res.Custom() {
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", res.GroupResource(), "",
				"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml", 0, false)
		}
		dec = c.proto
	default:
		return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", res.GroupResource(), "",
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"), 0, false)
	}
	gvk := res.GroupVersionKind()
	if dec != c.proto {
		js := data
		if dec == c.yamlStrict {
			if j, err := yaml.YAMLToJSON(data); err == nil {
				js = j
			}
		}
		if got, err := kjson.DefaultMetaFactory.Interpret(js); err == nil {
			if got.Version != "" && (got.Group != gvk.Group || got.Version != gvk.Version) {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
			}
			if got.Kind != "" && got.Kind != gvk.Kind {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: the kind in the data does not match the expected kind", got.Kind, got.Version, res.Kind))
			}
		}
	}
	into := res.New()
	obj, got, err := dec.Decode(data, &gvk, into)
	var warnings []string
	if err != nil {
		if runtime.IsStrictDecodingError(err) && obj != nil {
			if fv == validateStrict {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", res.Kind, res.GVR.Version, res.Kind, err))
			}
			if fv == validateWarn {
				if se, ok := err.(interface{ Errors() []error }); ok {
					for _, e := range se.Errors() {
						warnings = append(warnings, e.Error())
					}
				}
			}
		} else {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", res.Kind, res.GVR.Version, res.Kind, err))
		}
	}
	if got != nil && (got.Group != gvk.Group || got.Version != gvk.Version) {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	if got != nil && got.Kind != gvk.Kind {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: the kind in the data (%s) does not match the expected kind", got.Kind, got.Version, res.Kind, got.Kind))
	}
	if obj != into {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("body is not a %s", res.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if res.UnknownFields != nil {
		// A custom resource's unknown fields are those its schema prunes.
		for _, f := range res.UnknownFields(obj) {
			msg := fmt.Sprintf("unknown field %q", f)
			if fv == validateStrict {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s", res.Kind, res.GVR.Version, res.Kind, msg))
			}
			if fv == validateWarn {
				warnings = append(warnings, msg)
			}
		}
	}
	return obj, warnings, nil
}

// toJSON encodes an object as JSON.
func (c *codecs) toJSON(obj runtime.Object) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.json.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// yamlToJSON converts an apply body to JSON.
func yamlToJSON(data []byte) ([]byte, error) {
	return yaml.YAMLToJSON(data)
}

func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}
}

// decodeInto decodes a JSON or protobuf body into a typed object (Scale,
// DeleteOptions) without kind checks.
func (c *codecs) decodeInto(ct string, data []byte, into runtime.Object) error {
	if strings.HasPrefix(ct, mediaProtobuf) {
		_, _, err := c.proto.Decode(data, nil, into)
		return err
	}
	return json.Unmarshal(data, into)
}
