"""StructuredDataset and column subsets (Flyte docs: "StructuredDataset"), ported by the imports."""

import typing

import pandas as pd
import pyarrow as pa

from slipstream import StructuredDataset, kwtypes, task, workflow

all_cols = kwtypes(Name=str, Age=int, Height=int)
col = kwtypes(Age=int)


@task
def generate_pandas_df(a: int) -> typing.Annotated[pd.DataFrame, all_cols]:
    return pd.DataFrame({"Name": ["Tom", "Joseph"], "Age": [a, 22], "Height": [160, 178]})


@task
def get_subset_pandas_df(
    df: typing.Annotated[pd.DataFrame, all_cols],
) -> typing.Annotated[StructuredDataset, col]:
    df = pd.concat([df, pd.DataFrame([[30]], columns=["Age"])])
    return StructuredDataset(dataframe=df)


@task
def read_ages(sd: typing.Annotated[StructuredDataset, col]) -> list[int]:
    return [int(v) for v in sd.open(pd.DataFrame).all()["Age"].dropna()]


@task
def columns_seen(sd: typing.Annotated[StructuredDataset, kwtypes(Name=str)]) -> list[str]:
    return sd.open(pa.Table).all().column_names


@workflow
def simple_sd_wf(a: int = 19) -> typing.Tuple[list[int], list[str]]:  # noqa: UP006
    pandas_df = generate_pandas_df(a=a)
    ages = read_ages(sd=get_subset_pandas_df(df=pandas_df))
    return ages, columns_seen(sd=pandas_df)


if __name__ == "__main__":
    ages, names = simple_sd_wf()
    print(f"ages: {ages}")
    print(f"columns: {names}")
