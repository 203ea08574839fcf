package admission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
)

// DefaultMaxBodyBytes bounds one AdmissionReview. An object is at most
// ~1.5 MiB in etcd; a review carries the object and the old object, plus
// some envelope.
const DefaultMaxBodyBytes = 4 << 20

// ReviewAPIVersion is the only AdmissionReview version the webhook speaks
// (the generated configuration says admissionReviewVersions: [v1]).
const ReviewAPIVersion = "admission.k8s.io/v1"

// ErrMalformed marks a review or object that does not decode.
var ErrMalformed = errors.New("malformed")

// DecodeReview reads one AdmissionReview request: JSON, case-sensitive,
// without duplicate keys, admission.k8s.io/v1, with a request and its uid.
// Unknown fields are tolerated (a newer API server adds some). The caller
// bounds r (http.MaxBytesReader).
func DecodeReview(r io.Reader) (*admissionv1.AdmissionReview, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, fmt.Errorf("%w: AdmissionReview over %d bytes", ErrMalformed, mb.Limit)
		}
		return nil, fmt.Errorf("read AdmissionReview: %w", err)
	}
	return ParseReview(data)
}

// ParseReview decodes one AdmissionReview request from data (see
// DecodeReview).
func ParseReview(data []byte) (*admissionv1.AdmissionReview, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty body, want an AdmissionReview", ErrMalformed)
	}
	var rv admissionv1.AdmissionReview
	strict, err := kjson.UnmarshalStrict(data, &rv, kjson.DisallowDuplicateFields)
	if err != nil {
		return nil, fmt.Errorf("%w: AdmissionReview: %s", ErrMalformed, firstLine(err.Error()))
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%w: AdmissionReview: %s", ErrMalformed, firstLine(strict[0].Error()))
	}
	if got := rv.APIVersion + " " + rv.Kind; got != ReviewAPIVersion+" AdmissionReview" {
		return nil, fmt.Errorf("%w: apiVersion/kind %q, want %s AdmissionReview", ErrMalformed, strings.TrimSpace(got), ReviewAPIVersion)
	}
	if rv.Request == nil {
		return nil, fmt.Errorf("%w: AdmissionReview without a request", ErrMalformed)
	}
	if rv.Request.UID == "" {
		return nil, fmt.Errorf("%w: AdmissionReview request without a uid", ErrMalformed)
	}
	if rv.Response != nil {
		return nil, fmt.Errorf("%w: AdmissionReview request carries a response", ErrMalformed)
	}
	return &rv, nil
}

// decodeObject decodes the raw object of a request into v: case-sensitive,
// without duplicate keys (as the API server decodes it), unknown fields
// tolerated.
func decodeObject(raw []byte, v any, what string) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("%w: the request has no %s", ErrMalformed, what)
	}
	strict, err := kjson.UnmarshalStrict(raw, v, kjson.DisallowDuplicateFields)
	if err != nil {
		return fmt.Errorf("%w: %s: %s", ErrMalformed, what, firstLine(err.Error()))
	}
	if len(strict) > 0 {
		return fmt.Errorf("%w: %s: %s", ErrMalformed, what, firstLine(strict[0].Error()))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// response wraps a response in the review the API server expects back.
func reviewResponse(uid string, resp *admissionv1.AdmissionResponse) *admissionv1.AdmissionReview {
	resp.UID = typesUID(uid)
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: ReviewAPIVersion, Kind: "AdmissionReview"},
		Response: resp,
	}
}
