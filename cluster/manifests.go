package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// ErrTooLarge is returned when manifests exceed WithMaxBytes.
var ErrTooLarge = errors.New("manifests too large")

// FromManifests reads a snapshot from path: a directory (every *.yaml,
// *.yml and *.json below it, hidden directories skipped), a file, or "-"
// for standard input. Files hold multi-document YAML or JSON, List kinds
// and Helm-rendered output. Unknown kinds and invalid documents become
// gaps; only I/O failures and exceeded bounds are errors.
func FromManifests(ctx context.Context, path string, opts ...Option) (*Snapshot, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if path == "-" {
		b := newBuilder(o, "manifests from standard input")
		b.manifests = true
		r := &manifestReader{b: b, ctx: ctx}
		if err := r.read(o.stdin, "-"); err != nil {
			return nil, err
		}
		return b.finish(), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	if fi.IsDir() && isHelmChart(path) {
		return nil, fmt.Errorf("read manifests: %s is an unrendered Helm chart (Chart.yaml, templates with {{ }}): credence reads the objects a chart renders to: run 'helm template RELEASE %s -f VALUES > rendered.yaml' and pass --manifests rendered.yaml", path, path)
	}
	b := newBuilder(o, "manifests "+path)
	b.manifests = true
	r := &manifestReader{b: b, ctx: ctx}
	if !fi.IsDir() {
		if err := r.readFile(path, filepath.Base(path)); err != nil {
			return nil, err
		}
		return b.finish(), nil
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk manifests: %w", err)
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if p != path && isHelmChart(p) {
				rel, _ := filepath.Rel(path, p)
				b.gap(Gap{Kind: "HelmChart", Name: d.Name(), Source: filepath.ToSlash(filepath.Join(rel, "Chart.yaml")),
					Reason: helmHint(p)})
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // symlinks and devices: not followed
		}
		rel, _ := filepath.Rel(path, p)
		return r.readFile(p, filepath.ToSlash(rel))
	})
	if err != nil {
		return nil, err
	}
	return b.finish(), nil
}

// isHelmChart reports whether dir is an unrendered Helm chart: a Chart.yaml
// beside a templates directory whose files hold template actions ({{ }}).
func isHelmChart(dir string) bool {
	if fi, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	entries, err := os.ReadDir(filepath.Join(dir, "templates"))
	if err != nil {
		return false
	}
	for i, e := range entries {
		if i == 64 {
			break // enough to decide; a chart's first templates hold actions
		}
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, "templates", e.Name()))
		if err != nil {
			continue
		}
		head := make([]byte, 64<<10)
		n, _ := io.ReadFull(f, head)
		f.Close()
		if bytes.Contains(head[:n], []byte("{{")) {
			return true
		}
	}
	return false
}

func helmHint(chart string) string {
	return fmt.Sprintf("an unrendered Helm chart: its objects are unknown until rendered: run 'helm template RELEASE %s -f VALUES > rendered.yaml' and pass the output", chart)
}

// templateHint is added to the reason a document did not decode when it
// holds Helm template actions.
func templateHint(doc []byte) string {
	if bytes.Contains(doc, []byte("{{")) && bytes.Contains(doc, []byte("}}")) {
		return " (it holds {{ }}: an unrendered Helm template? render the chart with 'helm template' and pass the output)"
	}
	return ""
}

// Object names the object a gap is about, for people: its kind, namespace
// and name, and where it was found ("NetworkPolicy shop/deny-all
// (deploy/net.yaml#3)", "Secret in namespace shop", "document (a.yaml#4)").
func (g Gap) Object() string {
	what := g.Kind
	switch {
	case g.Name != "" && g.Namespace != "":
		what += " " + g.Namespace + "/" + g.Name
	case g.Name != "":
		what += " " + g.Name
	case g.Namespace != "":
		what += " in namespace " + g.Namespace
	}
	if g.Source != "" {
		what += " (" + g.Source + ")"
	}
	return what
}

// String is the gap for people: Object and the reason.
func (g Gap) String() string { return g.Object() + ": " + g.Reason }

// FromReader reads a snapshot from one stream of manifests; name is used in
// the snapshot's Source and in gaps.
func FromReader(ctx context.Context, rd io.Reader, name string, opts ...Option) (*Snapshot, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	b := newBuilder(o, "manifests "+name)
	b.manifests = true
	r := &manifestReader{b: b, ctx: ctx}
	if err := r.read(rd, name); err != nil {
		return nil, err
	}
	return b.finish(), nil
}

type manifestReader struct {
	b     *builder
	ctx   context.Context
	total int64
}

func (r *manifestReader) readFile(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	defer f.Close()
	return r.read(f, name)
}

// read splits rd into documents and keeps the objects in each.
func (r *manifestReader) read(rd io.Reader, name string) error {
	d := &docReader{r: bufio.NewReaderSize(rd, 64<<10), max: r.b.opts.maxDocBytes, total: &r.total, maxTotal: r.b.opts.maxBytes}
	for n := 1; ; n++ {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("read manifests: %w", err)
		}
		doc, size, err := d.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read manifests %s: %w", name, err)
		}
		src := fmt.Sprintf("%s#%d", name, n)
		if doc == nil {
			r.b.gap(Gap{Kind: "document", Source: src,
				Reason: fmt.Sprintf("document of more than %d bytes (at least %d): skipped, its objects are unknown", r.b.opts.maxDocBytes, size)})
			continue
		}
		if err := r.b.document(doc, src); err != nil {
			return err
		}
	}
}

// docReader splits a stream at YAML document separators ("---" at the start
// of a line, optionally followed by a comment) with bounded memory.
type docReader struct {
	r        *bufio.Reader
	max      int64
	total    *int64
	maxTotal int64
	eof      bool
}

// next returns the next document. A document over max is discarded: doc is
// nil and size says how many bytes were seen. At the end it returns io.EOF.
func (d *docReader) next() (doc []byte, size int64, err error) {
	if d.eof {
		return nil, 0, io.EOF
	}
	var buf bytes.Buffer
	tooBig := false
	lineStart := true
	for {
		line, err := d.r.ReadSlice('\n')
		*d.total += int64(len(line))
		if *d.total > d.maxTotal {
			return nil, 0, fmt.Errorf("%w: more than %d bytes (raise the limit or split the input)", ErrTooLarge, d.maxTotal)
		}
		full := err == nil || errors.Is(err, io.EOF)
		if lineStart && full && isSeparator(line) {
			if tooBig {
				return nil, size, nil
			}
			return nonNil(buf.Bytes()), size, nil
		}
		size += int64(len(line))
		if !tooBig {
			if size > d.max {
				tooBig = true
				buf = bytes.Buffer{}
			} else {
				buf.Write(line)
			}
		}
		lineStart = err == nil
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			d.eof = true
			if tooBig {
				return nil, size, nil
			}
			return nonNil(buf.Bytes()), size, nil
		default:
			return nil, 0, err
		}
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// isSeparator reports whether line is a YAML document separator: "---"
// alone or followed by blanks or a comment.
func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := bytes.TrimSpace(line[3:])
	if len(line) > 3 && line[3] != ' ' && line[3] != '\t' && line[3] != '\r' && line[3] != '\n' {
		return false
	}
	return len(rest) == 0 || rest[0] == '#'
}

// maxListDepth bounds Lists inside Lists.
const maxListDepth = 4

// document keeps the objects of one YAML or JSON document. Only a fatal
// error (too many objects) is returned; anything wrong with the document
// is a gap.
func (b *builder) document(doc []byte, src string) error {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		// JSON: one value, a stream of values, or an array of objects.
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for i := 1; ; i++ {
			var v json.RawMessage
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				return nil
			}
			vsrc := src
			if i > 1 {
				vsrc = fmt.Sprintf("%s.%d", src, i)
			}
			if err != nil {
				b.gap(Gap{Kind: "document", Source: vsrc, Reason: "invalid JSON: " + err.Error() + templateHint(doc)})
				return nil
			}
			if err := b.value(v, vsrc, 0); err != nil {
				return err
			}
		}
	}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		b.gap(Gap{Kind: "document", Source: src, Reason: "invalid YAML: " + oneLine(err.Error()) + templateHint(doc)})
		return nil
	}
	return b.value(j, src, 0)
}

// value keeps one decoded JSON value: an object, a List, or an array.
func (b *builder) value(j []byte, src string, depth int) error {
	j = bytes.TrimSpace(j)
	switch {
	case len(j) == 0 || bytes.Equal(j, []byte("null")):
		return nil // a comment-only document, as Helm renders for empty templates
	case j[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(j, &items); err != nil {
			b.gap(Gap{Kind: "document", Source: src, Reason: "invalid array: " + err.Error()})
			return nil
		}
		if depth >= maxListDepth {
			b.gap(Gap{Kind: "document", Source: src, Reason: fmt.Sprintf("lists nested deeper than %d: skipped", maxListDepth)})
			return nil
		}
		for i, it := range items {
			if err := b.value(it, fmt.Sprintf("%s[%d]", src, i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case j[0] != '{':
		b.gap(Gap{Kind: "document", Source: src, Reason: "not a Kubernetes object (a YAML scalar)"})
		return nil
	}
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(j, &head); err != nil {
		b.gap(Gap{Kind: "document", Source: src, Reason: "not a Kubernetes object: " + err.Error()})
		return nil
	}
	if head.Kind == "" || head.APIVersion == "" {
		b.gap(Gap{Kind: "document", Source: src, Name: head.Metadata.Name, Reason: "not a Kubernetes object: apiVersion or kind missing"})
		return nil
	}
	if head.Kind == "List" || (strings.HasSuffix(head.Kind, "List") && head.Items != nil) {
		if depth >= maxListDepth {
			b.gap(Gap{Kind: head.Kind, Source: src, Reason: fmt.Sprintf("lists nested deeper than %d: skipped", maxListDepth)})
			return nil
		}
		itemKind := strings.TrimSuffix(head.Kind, "List")
		for i, it := range head.Items {
			if itemKind != "" {
				// Items of a typed list (PodList) carry no kind of their own.
				it = withKind(it, head.APIVersion, itemKind)
			}
			if err := b.value(it, fmt.Sprintf("%s[%d]", src, i), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	ns := head.Metadata.Namespace
	if k := knownKinds[head.APIVersion+" "+head.Kind]; k != nil {
		err := k.decode(b, k, j, src)
		var inv *invalidError
		if errors.As(err, &inv) {
			if ns == "" && k.namespaced {
				ns = b.opts.defaultNamespace
			}
			b.gap(Gap{Kind: head.Kind, Namespace: ns, Name: head.Metadata.Name, Source: src, Reason: "invalid: " + oneLine(inv.Error())})
			return nil
		}
		return err
	}
	if ignoredKinds[head.Kind] {
		b.ignore(head.Kind)
		return nil
	}
	if k := kindByName(head.Kind); k != nil && (groupOf(k.apiVersion) == groupOf(head.APIVersion) || groupOf(head.APIVersion) == "extensions") {
		b.gap(Gap{Kind: head.Kind, Namespace: ns, Name: head.Metadata.Name, Source: src,
			Reason: fmt.Sprintf("apiVersion %s is not read (credence reads %s %s, as current servers do): convert it", head.APIVersion, k.apiVersion, k.name)})
		return nil
	}
	reason := fmt.Sprintf("unknown kind %s %s: not read", head.APIVersion, head.Kind)
	if why, ok := policyCRDs[groupOf(head.APIVersion)+" "+head.Kind]; ok {
		reason += "; " + why + ", so results that depend on it are unknown"
	}
	b.gap(Gap{Kind: head.Kind, Namespace: ns, Name: head.Metadata.Name, Source: src, Reason: reason})
	return nil
}

// withKind sets apiVersion and kind on a list item that lacks them.
func withKind(item json.RawMessage, apiVersion, kind string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(item, &m) != nil || m == nil {
		return item
	}
	changed := false
	if _, ok := m["kind"]; !ok {
		m["kind"], _ = json.Marshal(kind)
		changed = true
	}
	if _, ok := m["apiVersion"]; !ok {
		m["apiVersion"], _ = json.Marshal(apiVersion)
		changed = true
	}
	if !changed {
		return item
	}
	out, err := json.Marshal(m)
	if err != nil {
		return item
	}
	return out
}

func groupOf(apiVersion string) string {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
