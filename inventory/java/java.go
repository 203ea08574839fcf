// Package java extracts Maven packages from Java archives (jar, war, ear,
// Jenkins jpi/hpi): pom.properties, the manifest, nested archives, file names.
package java

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "java/archive"

// Extractor reads Java archives.
type Extractor struct {
	limits Limits
}

var _ inventory.Extractor = Extractor{}

// Option configures the extractor.
type Option func(*Extractor)

// WithLimits replaces the default limits on hostile archives; zero fields
// keep their default.
func WithLimits(l Limits) Option {
	return func(e *Extractor) {
		d := &e.limits
		for _, f := range []struct{ dst, src *int64 }{
			{&d.MaxDepth, &l.MaxDepth}, {&d.MaxArchives, &l.MaxArchives}, {&d.MaxEntries, &l.MaxEntries},
			{&d.MaxDirectory, &l.MaxDirectory}, {&d.MaxDirectoryTotal, &l.MaxDirectoryTotal},
			{&d.MaxMetaFile, &l.MaxMetaFile}, {&d.MaxNested, &l.MaxNested}, {&d.MaxInflated, &l.MaxInflated},
			{&d.MaxRatio, &l.MaxRatio},
		} {
			if *f.src > 0 {
				*f.dst = *f.src
			}
		}
	}
}

// New returns the extractor.
func New(opts ...Option) Extractor {
	e := Extractor{limits: DefaultLimits()}
	for _, o := range opts {
		o(&e)
	}
	return e
}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Requirements implements inventory.Extractor. Archives over 32 MiB are
// spooled to the runner's temporary directory for random access.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: 1 << 30}
}

// archiveExts are the extensions of the Java archives read, outer or nested.
var archiveExts = []string{".jar", ".war", ".ear", ".jpi", ".hpi"}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return isArchive(f.Path)
}

func isArchive(name string) bool {
	if len(name) < 5 {
		return false
	}
	ext := name[len(name)-4:]
	for _, e := range archiveExts {
		if strings.EqualFold(ext, e) {
			return true
		}
	}
	return false
}

// How a package was identified, from most to least trustworthy.
const (
	SourcePomProperties = "pom.properties" // META-INF/maven/<groupId>/<artifactId>/pom.properties
	SourceManifest      = "MANIFEST.MF"    // META-INF/MANIFEST.MF main attributes
	SourceFileName      = "filename"       // the archive's file name alone
)

// Confidence levels.
const (
	High   = "high"
	Medium = "medium"
	Low    = "low"
)

// Metadata says how a Maven package was identified.
type Metadata struct {
	// Source is SourcePomProperties, SourceManifest or SourceFileName.
	Source string `json:"source"`
	// Confidence is High for pom.properties, Medium for the manifest (the
	// groupId and artifactId are guessed), Low for a file name.
	Confidence string `json:"confidence"`
	// Entry is the archive entry the identity was read from.
	Entry string `json:"entry,omitempty"`
}

// Limits bound the work done on hostile archives (zip bombs, nested-archive
// recursion); see DefaultLimits.
type Limits struct {
	// MaxDepth bounds how deep archives nest below the file itself.
	MaxDepth int64
	// MaxArchives bounds the archives read in one file, nested ones included.
	MaxArchives int64
	// MaxEntries bounds the entries of one archive.
	MaxEntries int64
	// MaxDirectory bounds what is read to open the file (the end record and
	// the central directory, ~100 bytes an entry, which zip keeps in memory
	// at ~200 bytes an entry); a nested archive gets a quarter of it.
	// MaxDirectoryTotal bounds all archives of a file together.
	MaxDirectory, MaxDirectoryTotal int64
	// MaxMetaFile bounds a pom.properties or MANIFEST.MF.
	MaxMetaFile int64
	// MaxNested bounds a compressed nested archive, which is inflated into
	// memory; stored ones (Spring Boot's BOOT-INF/lib) are read in place.
	MaxNested int64
	// MaxInflated bounds all bytes inflated from one file.
	MaxInflated int64
	// MaxRatio bounds the compression ratio of a nested archive, whose
	// content (class files, themselves compressed) deflates little.
	MaxRatio int64
}

// DefaultLimits are generous for real archives (a 100k-entry shaded jar, a
// war of 300 libraries). A hostile file can make the extractor hold at most
// about MaxDepth × MaxNested inflated bytes and the directories of the
// MaxDepth+1 archives it is inside at once (a few hundred MiB with these).
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:          4,
		MaxArchives:       2000,
		MaxEntries:        200_000,
		MaxDirectory:      16 << 20,
		MaxDirectoryTotal: 128 << 20,
		MaxMetaFile:       1 << 20,
		MaxNested:         32 << 20,
		MaxInflated:       512 << 20,
		MaxRatio:          100,
	}
}

// maxWarnings bounds the warnings of one file.
const maxWarnings = 200

// Errors for archives refused as hostile. ErrBudget ends the reading of a
// file (what was found before it is kept); the others skip one archive or
// entry.
var (
	ErrBudget      = errors.New("budget of the file exhausted (archives, central directories or inflated bytes)")
	ErrTooDeep     = errors.New("archives nested too deeply")
	ErrTooMany     = errors.New("too many entries")
	ErrTooLarge    = errors.New("archive entry too large")
	ErrCompression = errors.New("compression ratio too high (zip bomb?)")
	ErrUnsafeName  = errors.New("unsafe entry name")
)

// scan is the state of one Extract call.
type scan struct {
	ctx       context.Context
	limits    Limits
	res       inventory.Result
	archives  int64
	inflated  int64
	directory int64
}

// Extract implements inventory.Extractor. Every archive, the file and the
// ones nested in it (up to Limits.MaxDepth deep, Locations "a.jar!/b.jar"),
// is identified by each of its pom.properties (several: a shaded jar),
// else by its manifest, else by a versioned file name. An archive the file
// itself is not gives an error; a bad nested archive or entry a warning.
func (e Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	ra, err := in.ReaderAt()
	if err != nil {
		return inventory.Result{}, err
	}
	s := &scan{ctx: ctx, limits: e.limits}
	if err := s.archive(ra, in.Size, in.Path, "", in.Base(), 0); err != nil {
		if errors.Is(err, ErrBudget) && len(s.res.Packages) > 0 {
			s.warnf("", "%v; the rest of the file is not read", err)
			return s.res, nil
		}
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	return s.res, nil
}

func (s *scan) warnf(where, format string, args ...any) {
	if len(s.res.Warnings) >= maxWarnings {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	s.res.Warnings = append(s.res.Warnings, msg)
	if len(s.res.Warnings) == maxWarnings {
		s.res.Warnings[maxWarnings-1] = "more warnings left out"
	}
}

// archive identifies the zip archive in ra and the archives nested in it.
// location is where it is in the image ("app.jar!/lib/x.jar"), inner the
// part after the file ("lib/x.jar"), empty for the file itself. An error
// wrapping ErrBudget or the context's error ends the whole file.
func (s *scan) archive(ra io.ReaderAt, size int64, location, inner, fileName string, depth int64) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	zr, err := s.open(ra, size, depth)
	if err != nil {
		return err
	}
	var poms, nested []*zip.File
	var manifest *zip.File
	unsafe := 0
	for _, f := range zr.File {
		switch {
		case !safeName(f.Name):
			unsafe++
		case strings.HasSuffix(f.Name, "/"):
		case pomPath(f.Name):
			poms = append(poms, f)
		case strings.EqualFold(f.Name, "META-INF/MANIFEST.MF"):
			manifest = f
		case isArchive(f.Name):
			nested = append(nested, f)
		}
	}
	if unsafe > 0 {
		s.warnf(inner, "%d entries with unsafe names (absolute, \"..\", backslash) ignored: %v", unsafe, ErrUnsafeName)
	}
	slices.SortFunc(poms, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(nested, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })

	if err := s.identify(location, inner, fileName, poms, manifest); err != nil {
		return err
	}
	for i, f := range nested {
		loc := location + "!/" + f.Name
		in := strings.TrimPrefix(inner+"!/"+f.Name, "!/")
		if depth+1 > s.limits.MaxDepth {
			s.warnf(in, "%d nested archives not read: %v (over %d levels)", len(nested)-i, ErrTooDeep, s.limits.MaxDepth)
			break
		}
		if s.archives++; s.archives > s.limits.MaxArchives {
			return fmt.Errorf("%w: over %d nested archives", ErrBudget, s.limits.MaxArchives)
		}
		r, n, err := s.nestedReader(ra, size, f)
		if err == nil {
			err = s.archive(r, n, loc, in, path.Base(f.Name), depth+1)
		}
		switch {
		case errors.Is(err, ErrBudget), s.ctx.Err() != nil:
			return err
		case err != nil:
			s.warnf(in, "%v", err)
			s.fileNameOnly(loc, in, path.Base(f.Name))
		}
	}
	return nil
}

// open reads the central directory of the archive in ra, within the
// directory budgets.
func (s *scan) open(ra io.ReaderAt, size, depth int64) (*zip.Reader, error) {
	own := s.limits.MaxDirectory
	if depth > 0 {
		own = max(own/4, 64<<10)
	}
	limit := min(own, s.limits.MaxDirectoryTotal-s.directory)
	if limit <= 0 {
		return nil, fmt.Errorf("%w: central directories over %d bytes", ErrBudget, s.limits.MaxDirectoryTotal)
	}
	br := &budgetReaderAt{r: ra, left: limit}
	zr, err := zip.NewReader(br, size)
	s.directory += limit - br.left
	if errors.Is(err, zip.ErrInsecurePath) {
		err = nil // names are checked one by one
	}
	if br.exhausted {
		if limit < own {
			return nil, fmt.Errorf("%w: central directories over %d bytes", ErrBudget, s.limits.MaxDirectoryTotal)
		}
		return nil, fmt.Errorf("%w: central directory over %d bytes", ErrTooMany, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("not a zip archive: %w", err)
	}
	if int64(len(zr.File)) > s.limits.MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, over %d", ErrTooMany, len(zr.File), s.limits.MaxEntries)
	}
	br.left = -1 // entry data is bounded by the inflation budget instead
	return zr, nil
}

// budgetReaderAt fails reads once left bytes have been read; left < 0
// means no limit.
type budgetReaderAt struct {
	r         io.ReaderAt
	left      int64
	exhausted bool
}

var errDirectoryBudget = errors.New("read budget exhausted")

func (b *budgetReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if b.left < 0 {
		return b.r.ReadAt(p, off)
	}
	if int64(len(p)) > b.left {
		b.exhausted = true
		return 0, errDirectoryBudget
	}
	n, err := b.r.ReadAt(p, off)
	b.left -= int64(n)
	return n, err
}

// nestedReader gives random access to a nested archive: in place when it
// is stored, else inflated into memory within the limits.
func (s *scan) nestedReader(ra io.ReaderAt, size int64, f *zip.File) (io.ReaderAt, int64, error) {
	if f.Method == zip.Store && f.Flags&0x1 == 0 {
		off, err := f.DataOffset()
		if err != nil {
			return nil, 0, fmt.Errorf("locate entry: %w", err)
		}
		n := int64(f.CompressedSize64)
		if f.CompressedSize64 != f.UncompressedSize64 || n < 0 || off < 0 || off > size || n > size-off {
			return nil, 0, errors.New("stored entry sizes do not match the archive")
		}
		return io.NewSectionReader(ra, off, n), n, nil
	}
	if f.UncompressedSize64 > f.CompressedSize64*uint64(s.limits.MaxRatio)+4096 {
		return nil, 0, fmt.Errorf("%w: %d bytes from %d", ErrCompression, f.UncompressedSize64, f.CompressedSize64)
	}
	b, err := s.read(f, s.limits.MaxNested)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// read inflates one entry of at most max bytes, within the file's budget.
func (s *scan) read(f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, f.UncompressedSize64, max)
	}
	left := s.limits.MaxInflated - s.inflated
	if int64(f.UncompressedSize64) > left {
		return nil, fmt.Errorf("%w: %d bytes inflated", ErrBudget, s.inflated)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("open entry: %w", err)
	}
	defer rc.Close()
	// zip checks the size and CRC against the directory; the limit also
	// holds if they lie.
	b, err := io.ReadAll(io.LimitReader(rc, min(max, left)+1))
	s.inflated += int64(len(b))
	if err != nil {
		return nil, fmt.Errorf("inflate entry: %w", err)
	}
	if int64(len(b)) > min(max, left) {
		return nil, fmt.Errorf("%w: inflates past its declared size", ErrTooLarge)
	}
	return b, nil
}

// safeName rejects entry names that would escape the archive if extracted.
func safeName(n string) bool {
	if n == "" || len(n) > 4096 || n[0] == '/' || strings.ContainsAny(n, "\\\x00") {
		return false
	}
	for elem := range strings.SplitSeq(n, "/") {
		if elem == ".." {
			return false
		}
	}
	return true
}

// pomPath reports whether name is META-INF/maven/<groupId>/<artifactId>/pom.properties.
func pomPath(name string) bool {
	rest, ok := strings.CutPrefix(name, "META-INF/maven/")
	if !ok || !strings.HasSuffix(rest, "/pom.properties") {
		return false
	}
	return strings.Count(rest, "/") == 2
}

var (
	// coordinate is a groupId or artifactId (Maven allows these characters).
	coordinate = charset{max: 200, extra: "_.-"}
	version    = charset{max: 128, extra: "_.-+"}
)

// charset matches strings of 1 to max ASCII letters, digits and extra
// characters. (A regular expression with a {1,200} repetition compiles to
// 200 copies of the class: 300 KB and milliseconds at every start of the
// program.)
type charset struct {
	max   int
	extra string
}

// MatchString reports whether s is such a string.
func (c charset) MatchString(s string) bool {
	if len(s) == 0 || len(s) > c.max {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(c.extra, b) >= 0) {
			return false
		}
	}
	return true
}

// identify reports the archive at location by its pom.properties files,
// else its manifest, else its file name.
func (s *scan) identify(location, inner, fileName string, poms []*zip.File, manifest *zip.File) error {
	found := 0
	seen := map[string]bool{}
	for _, f := range poms {
		b, err := s.read(f, s.limits.MaxMetaFile)
		if errors.Is(err, ErrBudget) {
			return err
		}
		if err != nil {
			s.warnf(inner, "%s: %v", f.Name, err)
			continue
		}
		props := parseProperties(b)
		g, a, v := props["groupId"], props["artifactId"], props["version"]
		if !coordinate.MatchString(g) || !coordinate.MatchString(a) || !version.MatchString(v) {
			s.warnf(inner, "%s: groupId %.100q, artifactId %.100q or version %.100q missing or malformed", f.Name, g, a, v)
			continue
		}
		found++
		if key := g + ":" + a + ":" + v; !seen[key] {
			seen[key] = true
			s.add(location, g, a, v, &Metadata{Source: SourcePomProperties, Confidence: High, Entry: f.Name})
		}
	}
	if found > 0 {
		return nil
	}
	if manifest != nil {
		b, err := s.read(manifest, s.limits.MaxMetaFile)
		switch {
		case errors.Is(err, ErrBudget):
			return err
		case err != nil:
			s.warnf(inner, "%s: %v", manifest.Name, err)
		default:
			if g, a, v, ok := fromManifest(parseManifest(b), fileName); ok {
				s.add(location, g, a, v, &Metadata{Source: SourceManifest, Confidence: Medium, Entry: manifest.Name})
				return nil
			}
		}
	}
	s.fileNameOnly(location, inner, fileName)
	return nil
}

// fileNameOnly reports an archive by its file name ("log4j-core-2.14.1.jar"),
// or warns that it could not be identified.
func (s *scan) fileNameOnly(location, inner, fileName string) {
	if a, v := splitFileName(fileName); a != "" && v != "" {
		s.add(location, "", a, v, &Metadata{Source: SourceFileName, Confidence: Low})
		return
	}
	s.warnf(inner, "no pom.properties, no manifest version and no version in the file name %q: not identified", fileName)
}

func (s *scan) add(location, group, artifact, ver string, md *Metadata) {
	s.res.Packages = append(s.res.Packages, &inventory.Package{
		Name:      artifact,
		Namespace: group,
		Version:   ver,
		Type:      inventory.TypeMaven,
		Locations: []string{location},
		Metadata:  md,
	})
}

// fromManifest guesses Maven coordinates from a manifest's main attributes:
// the version from Implementation-Version, Bundle-Version or
// Specification-Version; the artifactId from an Implementation-Title that
// looks like one, else the file name; the groupId from
// Implementation-Vendor-Id, else the Bundle-SymbolicName less the artifactId.
func fromManifest(m map[string]string, fileName string) (group, artifact, ver string, ok bool) {
	for _, k := range []string{"implementation-version", "bundle-version", "specification-version"} {
		if v := m[k]; version.MatchString(v) {
			ver = v
			break
		}
	}
	if ver == "" {
		return "", "", "", false
	}
	bsn, _, _ := strings.Cut(m["bundle-symbolicname"], ";")
	bsn = strings.TrimSpace(bsn)
	fileArtifact, _ := splitFileName(fileName)
	if fileArtifact == "" {
		fileArtifact = strings.TrimSuffix(fileName, path.Ext(fileName))
	}
	for _, a := range []string{m["implementation-title"], fileArtifact, bsn} {
		if coordinate.MatchString(a) {
			artifact = a
			break
		}
	}
	if artifact == "" {
		return "", "", "", false
	}
	if g := m["implementation-vendor-id"]; coordinate.MatchString(g) && strings.Contains(g, ".") {
		group = g
	} else if g, ok := strings.CutSuffix(bsn, "."+artifact); ok && coordinate.MatchString(g) {
		group = g
	}
	return group, artifact, ver, true
}

// qualifiers may follow a version in a file name ("guava-31.1-jre.jar").
var qualifiers = []string{"snapshot", "release", "final", "ga", "jre", "android", "alpha", "beta", "rc", "cr", "m", "sp", "incubating", "jdk"}

// splitFileName splits "log4j-1.2-api-2.19.0.jar" into "log4j-1.2-api" and
// "2.19.0": the version starts at the first "-<digit>" after which every
// "-" part starts with a digit or is a known qualifier.
func splitFileName(fileName string) (artifact, ver string) {
	stem := strings.TrimSuffix(fileName, path.Ext(fileName))
	last := -1
	for i := 1; i+1 < len(stem); i++ {
		if stem[i] != '-' || stem[i+1] < '0' || stem[i+1] > '9' {
			continue
		}
		last = i
		if versionLike(stem[i+1:]) {
			return checked(stem[:i], stem[i+1:])
		}
	}
	if last > 0 {
		return checked(stem[:last], stem[last+1:])
	}
	return "", ""
}

func checked(a, v string) (string, string) {
	if !coordinate.MatchString(a) || !version.MatchString(v) {
		return "", ""
	}
	return a, v
}

func versionLike(v string) bool {
	for part := range strings.SplitSeq(v, "-") {
		if part == "" {
			return false
		}
		if part[0] >= '0' && part[0] <= '9' {
			continue
		}
		lower := strings.ToLower(part)
		if !slices.ContainsFunc(qualifiers, func(q string) bool { return strings.HasPrefix(lower, q) }) {
			return false
		}
	}
	return true
}

// parseManifest returns the main attributes of a JAR manifest, names
// lower-cased: "Name: value" lines up to the first blank line, a line
// starting with a space continuing the previous value.
func parseManifest(b []byte) map[string]string {
	m := map[string]string{}
	last := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' {
			if last != "" && len(m[last]) < 64<<10 {
				m[last] += line[1:]
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			last = ""
			continue
		}
		last = strings.ToLower(strings.TrimSpace(k))
		m[last] = strings.TrimSpace(v)
	}
	for k, v := range m {
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// parseProperties reads a Java .properties file (the subset pom.properties
// uses, with line continuations and escapes).
func parseProperties(b []byte) map[string]string {
	props := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continued(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		key, value := splitProperty(line)
		props[unescape(key)] = unescape(value)
	}
	return props
}

// continued reports whether line ends in an odd number of backslashes.
func continued(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits at the first unescaped '=', ':' or blank.
func splitProperty(line string) (key, value string) {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '=', ':', ' ', '\t', '\f':
			key, value = line[:i], strings.TrimLeft(line[i:], " \t\f")
			if value != "" && (value[0] == '=' || value[0] == ':') && (line[i] == ' ' || line[i] == '\t' || line[i] == '\f') {
				value = value[1:]
			} else if line[i] == '=' || line[i] == ':' {
				value = line[i+1:]
			}
			return key, strings.TrimLeft(value, " \t\f")
		}
	}
	return line, ""
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			var r rune
			if i+4 < len(s) {
				if _, err := fmt.Sscanf(s[i+1:i+5], "%04x", &r); err == nil {
					b.WriteRune(r)
					i += 4
					continue
				}
			}
			b.WriteByte('u')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
