// Draws each blast-radius picture of a credence page (the HTML report, the
// dashboard) with cytoscape.js, from the JSON in #credence-pictures. Text from the cluster is
// only ever set with textContent or drawn on the canvas, never parsed as HTML.
(function () {
  'use strict';
  window.credenceGraphs = {};
  var data = document.getElementById('credence-pictures');
  var pictures = (data && JSON.parse(data.textContent || '[]')) || [];
  if (typeof window.cytoscape !== 'function') {
    pictures.forEach(function (p) { note(document.getElementById(p.id), 'The picture could not be drawn: cytoscape.js did not load.'); });
    window.credenceReady = true;
    return;
  }

  var css = getComputedStyle(document.documentElement);
  function v(name, fallback) { return (css.getPropertyValue(name) || '').trim() || fallback; }
  var colour = {
    network: v('--net', '#2563eb'), token: v('--token', '#d97706'), rbac: v('--rbac', '#7c3aed'),
    escape: v('--escape', '#dc2626'), shared: v('--shared', '#0d9488'), alert: v('--alert', '#111827'),
    unknown: v('--unknown', '#6b7280'), other: v('--unknown', '#6b7280')
  };
  var font = '"Liberation Sans", "Helvetica Neue", Arial, sans-serif';
  var rowGap = 84, colGap = 300, pad = 28;

  var style = [
    { selector: 'node', style: {
      'shape': 'ellipse', 'width': 22, 'height': 22, 'background-color': '#e5e7eb', 'border-width': 2, 'border-color': '#6b7280',
      'label': 'data(label)', 'font-family': font, 'font-size': 12, 'color': '#1f2328',
      'text-valign': 'center', 'text-halign': 'right', 'text-margin-x': 8, 'text-wrap': 'wrap', 'text-max-width': 230,
      'text-background-color': '#fbfcfd', 'text-background-opacity': 0.9, 'text-background-padding': 2 } },
    { selector: 'node[role = "entry"], node[role = "compromised"]', style: {
      'shape': 'round-rectangle', 'width': 30, 'height': 30, 'background-color': '#facc15', 'border-color': '#854d0e', 'border-width': 3, 'font-weight': 'bold' } },
    { selector: 'node[role = "alert"]', style: {
      'shape': 'round-rectangle', 'width': 28, 'height': 28, 'background-color': '#111827', 'border-color': '#111827', 'font-weight': 'bold' } },
    { selector: 'node[role = "critical"]', style: {
      'shape': 'diamond', 'width': 32, 'height': 32, 'background-color': '#fee2e2', 'border-color': '#b91c1c', 'border-width': 4,
      'color': '#8b1111', 'font-weight': 'bold' } },
    { selector: 'edge', style: {
      'width': 'data(width)', 'line-color': 'data(colour)', 'target-arrow-color': 'data(colour)', 'target-arrow-shape': 'triangle',
      'arrow-scale': 1.1, 'curve-style': 'bezier', 'control-point-step-size': 50,
      'label': 'data(label)', 'font-family': font, 'font-size': 10, 'color': '#3d444d',
      'text-background-color': '#ffffff', 'text-background-opacity': 0.92, 'text-background-padding': 2,
      'text-border-width': 1, 'text-border-color': 'data(colour)', 'text-border-opacity': 0.6 } },
    { selector: 'edge[?unknown]', style: { 'line-style': 'dashed', 'line-dash-pattern': [7, 5] } },
    { selector: 'edge.hover, edge:selected', style: { 'overlay-color': '#1d4ed8', 'overlay-opacity': 0.14, 'overlay-padding': 5, 'z-index': 10 } },
    { selector: 'node.hover, node:selected', style: { 'overlay-color': '#1d4ed8', 'overlay-opacity': 0.14, 'overlay-padding': 6 } }
  ];

  // Each picture is sized now (the page does not jump) and drawn when it
  // comes near the viewport: a report of a large cluster stays light.
  var pending = {};
  var observer = 'IntersectionObserver' in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (en) {
      if (en.isIntersecting) { observer.unobserve(en.target); draw(en.target.id); }
    });
  }, { rootMargin: '800px 0px' }) : null;
  pictures.forEach(function (p) {
    var el = document.getElementById(p.id);
    if (!el) { return; }
    var pos = layout(p);
    el.style.height = Math.max(260, pos.height + 2 * pad) + 'px';
    var panel = document.getElementById(p.id + '-panel');
    if (panel) { panel.style.maxHeight = el.style.height; }
    pending[p.id] = { p: p, pos: pos, el: el, panel: panel };
    if (observer) { observer.observe(el); } else { draw(p.id); }
  });
  // Print every picture, drawn or not yet.
  window.addEventListener('beforeprint', function () { Object.keys(pending).forEach(draw); });

  function draw(id) {
    var d = pending[id];
    if (!d) { return; }
    delete pending[id];
    var p = d.p, pos = d.pos, el = d.el, panel = d.panel;
    var elements = [];
    p.nodes.forEach(function (n) {
      elements.push({ group: 'nodes', data: { id: n.id, name: n.name, label: shorten(n.name), role: n.role, node: n }, position: pos.at[n.id] });
    });
    p.edges.forEach(function (e) {
      elements.push({ group: 'edges', data: {
        id: e.id, source: e.source, target: e.target, unknown: e.unknown,
        label: e.kind + ' ' + e.likelihood.toFixed(2), colour: colour[e.family] || colour.other,
        width: 1.5 + 3.5 * Math.max(0, Math.min(1, e.likelihood)), step: e } });
    });
    var cy = window.cytoscape({
      container: el, elements: elements, style: style, layout: { name: 'preset', fit: false },
      minZoom: 0.3, maxZoom: 2, userZoomingEnabled: false, boxSelectionEnabled: false, autoungrabify: false, selectionType: 'single'
    });
    fitAtMostOne(cy);
    cy.on('resize', function () { fitAtMostOne(cy); });

    var pinned = null;
    function show(ele) {
      if (!panel) { return; }
      clear(panel);
      if (!ele) {
        add(panel, 'p', 'panel-hint', 'Hover or click a step (arrow) or a node to see why it works.');
        return;
      }
      if (ele.isEdge()) { showStep(panel, ele.data('step')); } else { showNode(panel, ele); }
    }
    cy.on('mouseover', 'edge, node', function (ev) { ev.target.addClass('hover'); show(ev.target); });
    cy.on('mouseout', 'edge, node', function (ev) { ev.target.removeClass('hover'); show(pinned); });
    cy.on('tap', 'edge, node', function (ev) { pinned = ev.target; show(pinned); });
    cy.on('tap', function (ev) { if (ev.target === cy) { pinned = null; show(null); } });
    el.setAttribute('data-nodes', String(cy.nodes().length));
    el.setAttribute('data-edges', String(cy.edges().length));
    window.credenceGraphs[p.id] = cy;
  }
  window.credenceReady = true;

  // layout places the picture top-down: each node on the row of its
  // shortest distance from the root, rows ordered by their predecessors'
  // positions (two barycentre sweeps) to keep lines from crossing.
  function layout(p) {
    var out = {}, inc = {}, level = {}, rows = [];
    p.nodes.forEach(function (n) { out[n.id] = []; inc[n.id] = []; });
    p.edges.forEach(function (e) { out[e.source].push(e.target); inc[e.target].push(e.source); });
    var queue = [p.root || (p.nodes[0] && p.nodes[0].id)];
    if (queue[0] === undefined) { return { at: {}, height: 0 }; }
    level[queue[0]] = 0;
    while (queue.length) {
      var id = queue.shift();
      out[id].forEach(function (t) {
        if (level[t] === undefined) { level[t] = level[id] + 1; queue.push(t); }
      });
    }
    p.nodes.forEach(function (n) {
      if (level[n.id] === undefined) { level[n.id] = 0; }
      (rows[level[n.id]] = rows[level[n.id]] || []).push(n.id);
    });
    var index = {};
    function reindex() { rows.forEach(function (r) { r.forEach(function (id, i) { index[id] = i - (r.length - 1) / 2; }); }); }
    reindex();
    for (var sweep = 0; sweep < 2; sweep++) {
      for (var r = 1; r < rows.length; r++) {
        var bary = {};
        rows[r].forEach(function (id) {
          var ps = inc[id].filter(function (s) { return level[s] < level[id]; });
          bary[id] = ps.length ? ps.reduce(function (a, s) { return a + index[s]; }, 0) / ps.length : index[id];
        });
        rows[r].sort(function (a, b) { return bary[a] - bary[b]; });
        reindex();
      }
    }
    var at = {};
    rows.forEach(function (row, y) {
      row.forEach(function (id) { at[id] = { x: index[id] * colGap, y: y * rowGap }; });
    });
    return { at: at, height: (rows.length - 1) * rowGap + 40 };
  }

  // shorten keeps a label to two lines; the panel shows the whole name.
  function shorten(s) { return s.length > 64 ? s.slice(0, 61) + '\u2026' : s; }

  function fitAtMostOne(cy) {
    cy.fit(undefined, pad);
    if (cy.zoom() > 1) { cy.zoom(1); cy.center(); }
  }

  function showStep(panel, s) {
    add(panel, 'h6', null, 'Step');
    add(panel, 'p', 'p-route', s.from + ' \u2192 ' + s.to);
    var k = add(panel, 'p', null, '');
    add(k, 'span', 'kchip fam-' + s.family, s.kind);
    k.appendChild(document.createTextNode(' likelihood ' + s.likelihood.toFixed(2)));
    if (s.unknown) { k.appendChild(document.createTextNode(' ')); add(k, 'span', 'chip chip-unknown', 'unknown'); }
    if (s.technique) { k.appendChild(document.createTextNode(' \u00b7 ATT&CK ' + s.technique)); }
    add(panel, 'p', 'p-reason', s.reason);
    list(panel, 'Evidence', s.evidence);
    list(panel, 'Weakened by', s.weakened);
    list(panel, 'Removed by any of', s.fixes);
  }

  function showNode(panel, ele) {
    var n = ele.data('node');
    var what = { entry: 'Entry container', compromised: 'Compromised container', alert: 'Runtime alert', critical: 'Critical asset', step: 'Reached on the way' }[n.role] || 'Node';
    add(panel, 'h6', null, what);
    add(panel, 'p', 'p-route', n.name);
    if (n.critical) { add(panel, 'p', 'p-reason', 'Critical: ' + n.critical); }
    var into = ele.incomers('edge').map(function (e) { return e.data('step').kind + ' from ' + e.data('step').from; });
    var from = ele.outgoers('edge').map(function (e) { return e.data('step').kind + ' to ' + e.data('step').to; });
    list(panel, 'Reached by', into);
    list(panel, 'Leads to', from);
  }

  function list(parent, label, items) {
    if (!items || !items.length) { return; }
    add(parent, 'p', 'p-label', label);
    var ul = add(parent, 'ul', null, '');
    items.forEach(function (t) { add(ul, 'li', null, t); });
  }

  function add(parent, tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    parent.appendChild(e);
    return e;
  }

  function clear(e) { while (e.firstChild) { e.removeChild(e.firstChild); } }

  function note(el, text) { if (el) { clear(el); add(el, 'p', 'note', text); } }
})();
