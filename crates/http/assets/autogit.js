// AutoGit's one script. Every page works without it; it adds two things:
// - a running job's log grows live (server-sent events; the browser resumes at the last byte
//   offset it received after a reconnect, by the Last-Event-ID it sends);
// - a line range in a file's address (#L10-20) is highlighted.
(function () {
  "use strict";

  function highlightRange() {
    var m = /^#L(\d+)(?:-L?(\d+))?$/.exec(window.location.hash);
    var marked = document.querySelectorAll("tr.hl");
    for (var i = 0; i < marked.length; i++) marked[i].classList.remove("hl");
    if (!m) return;
    var from = parseInt(m[1], 10), to = m[2] ? parseInt(m[2], 10) : from;
    if (to < from || to - from > 100000) return;
    for (var n = from; n <= to; n++) {
      var row = document.getElementById("L" + n);
      if (row && row.tagName === "TR") row.classList.add("hl");
    }
    var first = document.getElementById("L" + from);
    if (first && m[2]) first.scrollIntoView();
  }
  window.addEventListener("hashchange", highlightRange);
  highlightRange();

  var log = document.getElementById("log");
  if (!log || !log.dataset.stream || !window.EventSource) return;
  var state = document.querySelector("[data-live-state]");
  var lines = log.querySelectorAll(".log-line").length;
  // The sections still open at the end of what the page showed, innermost last.
  var stack = [log];
  var open = JSON.parse(log.dataset.openSections || "[]");
  for (var k = 0; k < open.length; k++) {
    var kids = stack[stack.length - 1].children, found = null;
    for (var c = kids.length - 1; c >= 0; c--) {
      if (kids[c].tagName === "DETAILS" && kids[c].dataset.section === open[k]) { found = kids[c]; break; }
    }
    if (!found) break;
    stack.push(found);
  }

  function lineElement(tag, html) {
    lines += 1;
    var el = document.createElement(tag);
    el.className = "log-line";
    el.id = "L" + lines;
    var a = document.createElement("a");
    a.className = "log-ln";
    a.href = "#L" + lines;
    a.textContent = String(lines);
    var text = document.createElement("span");
    text.className = "log-text";
    // Escaped on the server (autogit-render): text and <span class> only.
    text.innerHTML = html;
    el.appendChild(a);
    el.appendChild(text);
    return el;
  }

  function apply(item) {
    var top = stack[stack.length - 1];
    if (item[0] === "l") {
      top.appendChild(lineElement("div", item[1]));
    } else if (item[0] === "s") {
      var d = document.createElement("details");
      d.className = "log-section";
      d.dataset.section = item[1];
      d.dataset.start = String(item[4]);
      if (!item[3]) d.open = true;
      d.appendChild(lineElement("summary", item[2]));
      top.appendChild(d);
      stack.push(d);
    } else if (item[0] === "e") {
      for (var i = stack.length - 1; i > 0; i--) {
        if (stack[i].dataset.section === item[1]) {
          var secs = item[2] - parseInt(stack[i].dataset.start || "0", 10);
          var sum = stack[i].querySelector("summary");
          if (sum && secs >= 0) {
            var dur = document.createElement("span");
            dur.className = "log-duration";
            dur.textContent = String(Math.floor(secs / 60)).padStart(2, "0") + ":" + String(secs % 60).padStart(2, "0");
            sum.appendChild(dur);
          }
          stack.length = i;
          break;
        }
      }
    }
  }

  var url = log.dataset.stream + "?offset=" + encodeURIComponent(log.dataset.offset || "0");
  var source = new EventSource(url);
  source.addEventListener("items", function (ev) {
    var follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    var items = JSON.parse(ev.data);
    for (var i = 0; i < items.length; i++) apply(items[i]);
    if (follow) window.scrollTo(0, document.body.scrollHeight);
  });
  source.addEventListener("end", function (ev) {
    source.close();
    if (state) state.textContent = "Finished: " + ev.data;
  });
  source.onerror = function () {
    if (state) state.textContent = "Reconnecting…";
  };
  source.onopen = function () {
    if (state) state.textContent = "Live";
  };
})();
