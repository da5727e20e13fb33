// The "Copy key" button on the API keys page: copies the new key to the clipboard.
// Shown only when the script runs (without it the field is still selectable by hand).
(function () {
  "use strict";
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    var status = button.parentElement.querySelector(".copy-status");
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function (message) { if (status) { status.textContent = message; } };
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(
          function () { done("Copied."); },
          function () { done("Press Ctrl+C (⌘C) to copy the selected key."); }
        );
      } else {
        done("Press Ctrl+C (⌘C) to copy the selected key.");
      }
    });
  });
})();
