package htmlkit

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"sync"
)

// The shared assets: the stylesheet, the picture script, the shared
// template definitions and the vendored cytoscape.js build (see
// vendor/README.md).
//
//go:embed assets/credence.css assets/picture.js assets/shared.tmpl vendor/cytoscape.min.js
var assets embed.FS

// Script is a script a page runs, with the hash that allows exactly it:
// in a Content-Security-Policy (CSPSource) for an inline script, and also
// as the integrity attribute of an external one (CSP level 3 matches an
// external script's integrity against the policy's hashes).
type Script struct {
	// Name is the script's file name ("cytoscape.min.js").
	Name string
	Body string
	// Integrity is "sha256-" and the base64 SHA-256 of Body: the value of
	// an integrity attribute.
	Integrity string
}

// CSPSource is the policy's source expression allowing the script:
// 'sha256-…'.
func (s Script) CSPSource() string { return "'" + s.Integrity + "'" }

// JS is the script's body, for inlining in a <script> element.
func (s Script) JS() template.JS { return template.JS(s.Body) }

// FileName is Name with a short hash of the body before the extension
// ("cytoscape.min.3f2a…js"): a URL that changes when the content does, so
// it can be cached for good.
func (s Script) FileName() string {
	h := sha256.Sum256([]byte(s.Body))
	short := fmt.Sprintf("%x", h[:6])
	if i := strings.LastIndexByte(s.Name, '.'); i > 0 {
		return s.Name[:i] + "." + short + s.Name[i:]
	}
	return s.Name + "." + short
}

var scriptCloser = regexp.MustCompile(`(?i)</script|<!--|<script`)

func newScript(name, path string) (Script, error) {
	b, err := assets.ReadFile(path)
	if err != nil {
		return Script{}, err
	}
	// Inlined into a <script> element, these would end it.
	if scriptCloser.Match(b) {
		return Script{}, fmt.Errorf("htmlkit: %s contains </script, <script or <!--: it cannot be inlined", path)
	}
	return Script{Name: name, Body: string(b), Integrity: Integrity(b)}, nil
}

// Integrity is the SRI / CSP hash of content: "sha256-" and its base64
// SHA-256.
func Integrity(content []byte) string {
	h := sha256.Sum256(content)
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

var loadScripts = sync.OnceValues(func() ([]Script, error) {
	cy, err := newScript("cytoscape.min.js", "vendor/cytoscape.min.js")
	if err != nil {
		return nil, err
	}
	pic, err := newScript("picture.js", "assets/picture.js")
	if err != nil {
		return nil, err
	}
	return []Script{cy, pic}, nil
})

// PictureScripts are the two scripts that draw the pictures, in the order
// a page must load them: cytoscape.js, then picture.js, which draws every
// picture whose data is in the page's #credence-pictures JSON block and
// sets window.credenceReady when done.
func PictureScripts() ([]Script, error) { return loadScripts() }

// CytoscapeStyle is the one stylesheet cytoscape.js inserts into a page
// (a <style> element it creates when it first draws): a page whose
// Content-Security-Policy allows styles by hash must allow this one too.
const CytoscapeStyle = ".__________cytoscape_container { position: relative; }"

// Stylesheet is the shared stylesheet: page layout, tables, chips, the
// picture and its side panel, the text form of paths.
func Stylesheet() string {
	b, err := assets.ReadFile("assets/credence.css")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return string(b)
}

// Funcs are the template functions the shared definitions use: f1, f2
// (fixed decimals), pct (a fraction as a percentage), short (a digest's
// first 12 hex digits), plural ("s" unless 1), join and add.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"f2":     func(f float64) string { return fmt.Sprintf("%.2f", f) },
		"f1":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"pct":    func(f float64) string { return fmt.Sprintf("%.0f%%", 100*min(1, max(0, f))) },
		"short":  ShortDigest,
		"plural": Plural,
		"join":   strings.Join,
		"add":    func(a, b int) int { return a + b },
	}
}

// NewTemplate is a template named name with Funcs, extra functions, and
// the shared definitions ("picture", "paths", "legend", "sev") parsed:
// parse the page into it.
func NewTemplate(name string, extra template.FuncMap) (*template.Template, error) {
	src, err := assets.ReadFile("assets/shared.tmpl")
	if err != nil {
		return nil, err
	}
	t := template.New(name).Funcs(Funcs())
	if extra != nil {
		t = t.Funcs(extra)
	}
	return t.Parse(string(src))
}

// ShortDigest shortens "sha256:<64 hex>" to its first 12 hex digits.
func ShortDigest(d string) string {
	if strings.HasPrefix(d, "sha256:") && len(d) > 19 {
		return d[:19]
	}
	return d
}

// Plural is "s" unless n is 1.
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
