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
