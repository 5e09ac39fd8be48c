#!/usr/bin/python3
"""scikit-learn's digits, wine and breast-cancer sets as CSV files for mlnet-reg, with scikit-learn's own scores.

    /usr/bin/python3 scripts/sklearn_sets.py OUT_DIR      # needs Debian's python3-sklearn

For each set it writes OUT_DIR/<name>-train.csv and OUT_DIR/<name>-test.csv (a 75/25 split stratified by class,
random_state 0; a header row, the features as columns f0, f1, ... and the class in column 'label') and prints the
test accuracy of LogisticRegression and of MLPClassifier with its default settings, both on features standardized
with a StandardScaler fitted on the training rows, and their wall times.
"""
import csv
import os
import sys
import time
import warnings

from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SETS = {"digits": load_digits, "wine": load_wine, "breast-cancer": load_breast_cancer}


def write(path, x, y):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([f"f{i}" for i in range(x.shape[1])] + ["label"])
        for row, label in zip(x, y):
            out.writerow([repr(float(v)) for v in row] + [int(label)])


def score(model, x_train, y_train, x_test, y_test):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    note = " (did not converge)" if any(issubclass(w.category, ConvergenceWarning) for w in caught) else ""
    return f"{model.score(x_test, y_test):.4f} ({seconds:.2f} s){note}"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sklearn_sets.py OUT_DIR")
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    print("| data (train/test rows) | LogisticRegression | MLPClassifier() |")
    print("|---|---|---|")
    for name, load in SETS.items():
        x, y = load(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
        write(os.path.join(folder, f"{name}-train.csv"), x_train, y_train)
        write(os.path.join(folder, f"{name}-test.csv"), x_test, y_test)
        logistic = score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), x_train, y_train, x_test, y_test)
        mlp = score(make_pipeline(StandardScaler(), MLPClassifier(random_state=0)), x_train, y_train, x_test, y_test)
        print(f"| {name} ({len(y_train)}/{len(y_test)}) | {logistic} | {mlp} |")


if __name__ == "__main__":
    main()
