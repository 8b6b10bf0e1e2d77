// Case view: keyboard shortcuts, zoom, time spent per decision, box/line hover linking.
(function () {
  "use strict";
  var root = document.getElementById("case");
  if (!root) return;
  var started = Date.now();
  var record = root.dataset.record;
  var readonly = root.dataset.readonly === "1";

  function stampTime() {
    var ms = String(Date.now() - started);
    document.querySelectorAll("input.ms").forEach(function (i) { i.value = ms; });
  }
  document.querySelectorAll("form").forEach(function (f) { f.addEventListener("submit", stampTime); });

  function submit(id) {
    var f = document.getElementById(id);
    if (!f) return;
    var b = f.querySelector("button[type=submit]");
    if (b && b.disabled) return;
    stampTime();
    if (f.requestSubmit) f.requestSubmit(); else f.submit();   // requestSubmit runs the form's checks
  }

  var rejectForm = document.getElementById("form-reject");
  function openReject() {
    if (!rejectForm) return;
    rejectForm.hidden = false;
    document.getElementById("reject-reason").focus();
  }
  // A reason that needs a note: say so beside the note before sending (the server checks too).
  if (rejectForm) rejectForm.addEventListener("submit", function (e) {
    var sel = document.getElementById("reject-reason");
    var note = document.getElementById("reject-note");
    var opt = sel.options[sel.selectedIndex];
    var msg = document.getElementById("reject-note-needed");
    if (opt && opt.dataset.noteRequired === "1" && !note.value.trim()) {
      e.preventDefault();
      if (msg) msg.hidden = false;
      note.focus();
    }
  });
  // After a refused form the page comes back with the message beside the field: focus that field.
  var firstError = document.querySelector(".field-error:not([hidden])");
  if (firstError) {
    var field = firstError.previousElementSibling && firstError.previousElementSibling.querySelector("input, select");
    if (field) field.focus();
  }
  var rejectBtn = document.getElementById("btn-reject");
  if (rejectBtn) rejectBtn.addEventListener("click", openReject);

  // Zoom: the sheet is sized in % of the viewer; boxes are in % of the sheet, so they follow.
  var zoom = parseFloat(sessionStorage.getItem("medreview.zoom") || "1");
  var sheet = document.getElementById("sheet");
  var label = document.getElementById("zoom-level");
  function applyZoom() {
    if (!sheet) return;
    zoom = Math.min(4, Math.max(0.5, zoom));
    sheet.style.width = (zoom * 100) + "%";
    if (label) label.textContent = Math.round(zoom * 100) + "%";
    sessionStorage.setItem("medreview.zoom", String(zoom));
  }
  function setZoom(z) { zoom = z; applyZoom(); }
  applyZoom();
  [["zoom-in", function () { setZoom(zoom * 1.25); }], ["zoom-out", function () { setZoom(zoom / 1.25); }],
   ["zoom-fit", function () { setZoom(1); }]].forEach(function (p) {
    var el = document.getElementById(p[0]);
    if (el) el.addEventListener("click", p[1]);
  });
  var viewer = document.getElementById("viewer");
  if (viewer) viewer.addEventListener("wheel", function (e) {
    if (!e.ctrlKey) return;
    e.preventDefault();
    setZoom(e.deltaY < 0 ? zoom * 1.1 : zoom / 1.1);
  }, { passive: false });

  // Bring the current evidence box into view once the image has its size.
  var img = document.getElementById("page-img");
  function scrollToBox() {
    var box = document.querySelector(".box.current") || document.querySelector(".box");
    if (box && viewer) viewer.scrollTop = Math.max(0, box.offsetTop - viewer.clientHeight / 3);
    var line = document.querySelector(".lines li.ev.current") || document.querySelector(".lines li.ev");
    if (line) line.scrollIntoView({ block: "center" });
  }
  if (img) { if (img.complete) scrollToBox(); else img.addEventListener("load", scrollToBox); }

  // Hovering an evidence line lights its box.
  document.querySelectorAll(".lines li.ev").forEach(function (li) {
    var boxes = document.querySelectorAll('.box[data-line="' + li.dataset.line + '"]');
    li.addEventListener("mouseenter", function () { boxes.forEach(function (b) { b.classList.add("hover"); }); });
    li.addEventListener("mouseleave", function () { boxes.forEach(function (b) { b.classList.remove("hover"); }); });
  });

  // Drawing a box on the page selects the OCR lines it touches as evidence for a new flag.
  var addPanel = document.getElementById("add-panel");
  if (sheet && addPanel && !readonly) {
    var drawn = null, x0 = 0, y0 = 0;
    function pct(e) {
      var r = sheet.getBoundingClientRect();
      return [100 * (e.clientX - r.left) / r.width, 100 * (e.clientY - r.top) / r.height];
    }
    sheet.addEventListener("mousedown", function (e) {
      if (e.button !== 0) return;
      e.preventDefault();
      var p = pct(e); x0 = p[0]; y0 = p[1];
      if (drawn) drawn.remove();
      drawn = document.createElement("div");
      drawn.className = "drawn";
      sheet.appendChild(drawn);
    });
    sheet.addEventListener("mousemove", function (e) {
      if (!drawn || !(e.buttons & 1)) return;
      var p = pct(e);
      drawn.style.left = Math.min(x0, p[0]) + "%"; drawn.style.top = Math.min(y0, p[1]) + "%";
      drawn.style.width = Math.abs(p[0] - x0) + "%"; drawn.style.height = Math.abs(p[1] - y0) + "%";
    });
    sheet.addEventListener("mouseup", function (e) {
      if (!drawn) return;
      var p = pct(e);
      var l = Math.min(x0, p[0]), r = Math.max(x0, p[0]), t = Math.min(y0, p[1]), b = Math.max(y0, p[1]);
      if (r - l < 0.5 || b - t < 0.3) { drawn.remove(); drawn = null; return; }
      var n = 0;
      document.querySelectorAll(".lines li[data-box]").forEach(function (li) {
        var bx = li.dataset.box.split(",").map(parseFloat);
        if (bx[0] < r && bx[2] > l && bx[1] < b && bx[3] > t) {
          var cb = li.querySelector("input[type=checkbox]");
          if (cb) { cb.checked = true; n++; }
        }
      });
      if (n) { addPanel.open = true; }
    });
  }

  // Selecting text in one OCR line opens the "new entity" form with the line and the offsets.
  var entityForm = document.getElementById("entity-add");
  var linesEl = document.getElementById("lines");
  if (entityForm && linesEl) linesEl.addEventListener("mouseup", function () {
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return;
    var range = sel.getRangeAt(0);
    var start = range.startContainer.parentElement, end = range.endContainer.parentElement;
    var span = start && start.closest("span.t");
    if (!span || !end || end.closest("span.t") !== span) return;   // one line at a time
    if (span.closest("li").dataset.annotatable !== "1") return;    // outside every section: no entity here
    var before = document.createRange();
    before.selectNodeContents(span);
    before.setEnd(range.startContainer, range.startOffset);
    var from = before.toString().length, text = range.toString();
    if (!text.trim()) return;
    entityForm.elements.line_id.value = span.closest("li").dataset.line;
    entityForm.elements.start.value = String(from);
    entityForm.elements.end.value = String(from + text.length);
    document.getElementById("entity-add-text").textContent = text;
    entityForm.hidden = false;
    var details = document.getElementById("entities");
    if (details) details.open = true;
  });

  function go(flag) { if (flag) window.location.href = "/cases/" + record + "?flag=" + flag; }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
    if (typing) {
      if (e.key === "Escape") { t.blur(); if (rejectForm) rejectForm.hidden = true; }
      // Digits pick a reject reason by its number while the reason list has focus.
      if (t.id === "reject-reason" && e.key === "Enter" && t.value) { e.preventDefault(); submit("form-reject"); }
      if (t.id === "reject-reason" && /^[1-9]$/.test(e.key)) {
        var opt = t.options[parseInt(e.key, 10)];
        if (opt) { t.value = opt.value; e.preventDefault(); }
      }
      return;
    }
    switch (e.key) {
      case "a": if (!readonly) { e.preventDefault(); submit("form-confirm"); } break;
      case "x": if (!readonly) { e.preventDefault(); openReject(); } break;
      case " ": if (!readonly) { e.preventDefault(); submit("form-skip"); } break;
      case "u": if (!readonly) { e.preventDefault(); submit("form-undo"); } break;
      case "j": e.preventDefault(); go(root.dataset.next); break;
      case "k": e.preventDefault(); go(root.dataset.prev); break;
      case "+": case "=": e.preventDefault(); setZoom(zoom * 1.25); break;
      case "-": e.preventDefault(); setZoom(zoom / 1.25); break;
      case "0": e.preventDefault(); setZoom(1); break;
    }
  });
})();
