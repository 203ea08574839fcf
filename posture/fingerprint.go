package posture

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"github.com/credence-dev/credence/cluster"
)

// Fingerprint is a digest of what Evaluator.Pod reads of a pod itself.
type Fingerprint [sha256.Size]byte

// PodFingerprint digests what Evaluator.Pod reads of the pod itself: its
// namespace, name, workload and owner, its spec, and the seccomp and
// AppArmor annotations (Pod Security reads no others). Two pods with the
// same fingerprint, evaluated against the same namespaces, runtime classes
// and volumes, get the same profiles whatever else differs: labels,
// status, other annotations, resourceVersion. ok is false when the spec
// cannot be encoded (then nothing can be concluded from it).
func PodFingerprint(p *cluster.Pod) (f Fingerprint, ok bool) {
	spec, err := p.Spec.Marshal() // protobuf; map keys are written sorted
	if err != nil {
		return f, false
	}
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	field := func(s string) { // length first: no two lists of fields write the same bytes
		h.Write(binary.AppendUvarint(n[:0], uint64(len(s))))
		h.Write([]byte(s))
	}
	for _, s := range []string{p.Namespace, p.Name, p.Workload, p.Owner} {
		field(s)
	}
	var keys []string
	for k := range p.Annotations {
		if readsAnnotation(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	field(strconv.Itoa(len(keys)))
	for _, k := range keys {
		field(k)
		field(p.Annotations[k])
	}
	h.Write(spec)
	h.Sum(f[:0])
	return f, true
}

// readsAnnotation reports whether posture (or Pod Security) reads an
// annotation: the legacy seccomp and AppArmor ones.
func readsAnnotation(key string) bool {
	return key == seccompPodAnnotation || strings.HasPrefix(key, seccompContainerAnnotation) || strings.HasPrefix(key, appArmorAnnotation)
}
