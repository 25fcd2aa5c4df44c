// Searchable pickers (templates/_picker.html): the server sends options as the person types; this script
// shows them, moves through them with the arrow keys, and puts the chosen value in the hidden input.
(function () {
  function parts(el) {
    var root = el.closest("[data-picker]");
    if (!root) return null;
    return {root: root, search: root.querySelector("[data-picker-search]"),
            value: root.querySelector("[data-picker-value]"), list: root.querySelector("[role=listbox]")};
  }
  function open(p, yes) {
    p.list.hidden = !yes;
    p.search.setAttribute("aria-expanded", yes ? "true" : "false");
    if (!yes) p.search.removeAttribute("aria-activedescendant");
  }
  function options(p) { return Array.prototype.slice.call(p.list.querySelectorAll("[role=option]")); }
  function mark(p, option) {
    options(p).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) { p.search.setAttribute("aria-activedescendant", option.id); option.scrollIntoView({block: "nearest"}); }
  }
  function choose(p, option) {
    var changed = p.value.value !== option.getAttribute("data-value");
    p.value.value = option.getAttribute("data-value");
    p.search.value = option.getAttribute("data-label");
    open(p, false);
    if (changed) p.value.dispatchEvent(new Event("change", {bubbles: true}));
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    var p = target && target.matches && target.matches("[data-picker] [role=listbox]") && parts(target);
    if (p) open(p, document.activeElement === p.search);
  });
  document.addEventListener("input", function (event) {
    var p = event.target.matches && event.target.matches("[data-picker-search]") && parts(event.target);
    if (p && p.search.value === "" && p.value.value !== "") {  // clearing the box clears the choice
      p.value.value = "";
      p.value.dispatchEvent(new Event("change", {bubbles: true}));
    }
  });
  document.addEventListener("keydown", function (event) {
    var p = event.target.matches && event.target.matches("[data-picker-search]") && parts(event.target);
    if (!p) return;
    var all = options(p), current = p.list.querySelector("[aria-selected=true]"), i = all.indexOf(current);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (p.list.hidden) { open(p, true); }
      var next = event.key === "ArrowDown" ? Math.min(i + 1, all.length - 1) : Math.max(i - 1, 0);
      mark(p, all[next]);
    } else if (event.key === "Enter" && !p.list.hidden && current) {
      event.preventDefault();
      choose(p, current);
    } else if (event.key === "Escape" && !p.list.hidden) {
      event.preventDefault();
      open(p, false);
    }
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest && event.target.closest("[data-picker] [role=option]");
    if (option) { choose(parts(option), option); return; }
    document.querySelectorAll("[data-picker] [role=listbox]:not([hidden])").forEach(function (list) {
      if (!list.closest("[data-picker]").contains(event.target)) open(parts(list), false);
    });
  });
})();
