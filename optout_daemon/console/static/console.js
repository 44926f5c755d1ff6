// Keyboard shortcuts for the review console. No network access, no dependencies.
// Any element with data-key="x" is activated by pressing x (outside text fields);
// in the queue, j/k move the selection and Enter opens the selected item.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" && el.type !== "radio" && el.type !== "checkbox" ||
                  el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-href]"));
  var current = -1;
  function select(i) {
    if (!rows.length) { return; }
    if (current >= 0) { rows[current].classList.remove("selected"); }
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows[current].classList.add("selected");
    rows[current].scrollIntoView({block: "nearest"});
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
    if (rows.length && (ev.key === "j" || ev.key === "k")) {
      select(current + (ev.key === "j" ? 1 : -1));
      ev.preventDefault();
      return;
    }
    if (rows.length && ev.key === "Enter" && current >= 0) {
      window.location.assign(rows[current].getAttribute("data-href"));
      return;
    }
    var target = document.querySelector('[data-key="' + CSS.escape(ev.key) + '"]');
    if (target) {
      ev.preventDefault();
      if (target.type === "radio") { target.checked = true; target.focus(); } else { target.click(); }
    }
  });
})();
