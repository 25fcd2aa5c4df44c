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
