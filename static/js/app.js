// Strata page behaviour shared by every page.
// Errors other than 422 (which swaps its form partial) are shown in the flash area.
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var flash = document.getElementById("flash");
  if (!flash || xhr.status === 422) return;
  var text = "Request failed (" + xhr.status + ").";
  try {
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var message = doc.querySelector(".error-page p");
    if (message) text = message.textContent;
  } catch (e) { /* keep the generic text */ }
  var p = document.createElement("p");
  p.className = "flash flash-error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  flash.replaceChildren(p);
});
document.addEventListener("htmx:sendError", function () {
  var flash = document.getElementById("flash");
  if (flash) flash.innerHTML = '<p class="flash flash-error" role="alert">The server could not be reached. Check your connection and try again.</p>';
});

// Behaviour that would otherwise be inline (the Content-Security-Policy allows no inline script):
// forms with data-confirm ask first; a checkbox with data-select-all="name" ticks every input of that name;
// an element with data-enter-click is clicked by the Enter key (for role="button" elements htmx loads on click).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
}, true);
document.addEventListener("click", function (event) {
  var box = event.target.closest && event.target.closest("input[data-select-all]");
  if (!box) return;
  document.querySelectorAll('input[name="' + box.getAttribute("data-select-all") + '"]').forEach(function (c) {
    c.checked = box.checked;
  });
});
document.addEventListener("keyup", function (event) {
  if (event.key !== "Enter" || !event.target.closest) return;
  var target = event.target.closest("[data-enter-click]");
  if (target && target === event.target) target.click();
});

// Feedback while the server works: <html class="htmx-busy"> shows the loading bar for as long as any htmx request
// is in flight, and a form's submit buttons are disabled until its request ends (one click, one request).
// A plain form post disables its buttons on submit too (re-enabled if the page comes back from history).
var strataInFlight = 0;
function strataSubmitButtons(form) {
  var buttons = Array.prototype.slice.call(form.querySelectorAll("button:not([type]), button[type=submit], input[type=submit]"));
  if (form.id) {
    document.querySelectorAll('[form="' + form.id + '"]').forEach(function (b) {
      if (b.type === "submit") buttons.push(b);
    });
  }
  return buttons.filter(function (b) { return !b.disabled; });
}
function strataDisable(form) {
  strataSubmitButtons(form).forEach(function (b) {
    b.disabled = true;
    b.setAttribute("data-busy-disabled", "");
    b.setAttribute("aria-busy", "true");
  });
}
function strataEnable(root) {
  root.querySelectorAll("[data-busy-disabled]").forEach(function (b) {
    b.disabled = false;
    b.removeAttribute("data-busy-disabled");
    b.removeAttribute("aria-busy");
  });
}
document.addEventListener("htmx:beforeRequest", function (event) {
  strataInFlight += 1;
  document.documentElement.classList.add("htmx-busy");
  var elt = event.detail.elt;
  var form = elt && elt.tagName === "FORM" ? elt : null;
  if (form) strataDisable(form);
});
document.addEventListener("htmx:afterRequest", function (event) {
  strataInFlight = Math.max(0, strataInFlight - 1);
  if (strataInFlight === 0) document.documentElement.classList.remove("htmx-busy");
  var elt = event.detail.elt;
  if (elt && elt.tagName === "FORM") strataEnable(elt);
});
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (event.defaultPrevented || !form.getAttribute || (form.getAttribute("method") || "get").toLowerCase() !== "post") return;
  // After this turn of the event loop, so the pressed button's name and value still go with the form.
  window.setTimeout(function () {
    strataDisable(form);
    // A post that answers with a download leaves the page in place: give the buttons back after a while.
    window.setTimeout(function () { strataEnable(form); }, 8000);
  }, 0);
});
window.addEventListener("pageshow", function () { strataEnable(document); });

// A region that scrolls sideways (a wide table on a phone) can be reached and scrolled with the keyboard.
function strataFocusableScrollers(root) {
  (root || document).querySelectorAll("main table, main pre, main [data-scroll]").forEach(function (el) {
    var style = window.getComputedStyle(el);
    var scrolls = (style.overflowX === "auto" || style.overflowX === "scroll") && el.scrollWidth > el.clientWidth;
    if (scrolls && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");
      el.setAttribute("data-scroll-focus", "");
    } else if (!scrolls && el.hasAttribute("data-scroll-focus")) {
      el.removeAttribute("tabindex");
      el.removeAttribute("data-scroll-focus");
    }
  });
}
document.addEventListener("DOMContentLoaded", function () { strataFocusableScrollers(document); });
document.addEventListener("htmx:afterSettle", function () { strataFocusableScrollers(document); });
window.addEventListener("resize", function () { strataFocusableScrollers(document); });
