// Package htmlkit holds what credence's HTML pages share (the report of
// credence assess -o html, and the dashboard of credence serve): the
// blast-radius picture (its data built from graph paths, the vendored
// cytoscape.js and the script that draws it), the stylesheet, the text form
// of paths, posture highlights, finding lists, template helpers, and the
// Content-Security-Policy hashes that allow exactly the scripts a page runs.
//
// Everything from a cluster or an image is treated as hostile: pages render
// it with html/template, the picture's data travels as JSON in a
// <script type="application/json"> block (html/template writes '<' as
// \u003c there), and the drawing script sets text only with textContent or
// on the canvas.
package htmlkit
