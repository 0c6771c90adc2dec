// The console's only script (CSP: script-src 'self'): confirmation of dangerous forms and
// "copy to clipboard" buttons. Pages work without it.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button && navigator.clipboard) {
      navigator.clipboard.writeText(button.getAttribute("data-copy"));
    }
  });
})();
